"""Statuses of scenes and tiles, and the orderings the product derives from them."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    NEW = "NEW"
    PENDING = "PENDING"
    DONE = "DONE"
    RETRY = "RETRY"
    FAILED = "FAILED"

    @classmethod
    def parse(cls, value: str | Status) -> Status:
        """Accept any case, because operators type statuses by hand (`retry`, `Done`)."""
        if isinstance(value, Status):
            return value
        try:
            return cls(str(value).strip().upper())
        except ValueError:
            names = ", ".join(s.value for s in cls)
            raise ValueError(f"unknown status {value!r} (expected one of {names})") from None

    @property
    def color(self) -> str:
        return _COLORS[self]


# The AOI shows its most urgent status: something to act on (RETRY) beats work in
# progress (PENDING), which beats work not started (NEW); FAILED is final and quiet.
AOI_STATUS_PRIORITY: tuple[Status, ...] = (
    Status.RETRY,
    Status.PENDING,
    Status.NEW,
    Status.DONE,
    Status.FAILED,
)

_COLORS = {
    Status.NEW: "gray",
    Status.PENDING: "blue",
    Status.RETRY: "orange",
    Status.DONE: "green",
    Status.FAILED: "red",
}


def worst_status(statuses: set[Status] | frozenset[Status]) -> Status | None:
    """The AOI status rule of SPEC section 5; None when there is nothing at all."""
    for status in AOI_STATUS_PRIORITY:
        if status in statuses:
            return status
    return None
