"""Date-times as catalogues write them, and as upstream's JSON does (Go's RFC 3339 with nanoseconds)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

# More than 6 fraction digits (CDSE writes 7, Sentinel-1 annotations sometimes 9) is cut to microseconds.
_FRACTION = re.compile(r"(\.\d{1,6})\d*")


def parse_datetime(value: Any) -> datetime:
    """Parse an ISO 8601 / RFC 3339 date-time; a time without an offset is UTC (every catalogue's convention)."""
    if isinstance(value, datetime):
        parsed = value
    else:
        text = str(value).strip().replace(" ", "T", 1) if isinstance(value, str) else str(value)
        text = _FRACTION.sub(lambda m: m.group(1), text, count=1)
        if text.endswith(("z", "Z")):
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{value!r} is not an RFC 3339 date-time") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def rfc3339(value: datetime) -> str:
    """`2022-01-04T10:34:31.024Z`: UTC, trailing zeros of the fraction dropped (as upstream writes dates)."""
    value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}".rstrip("0")
    return text + "Z"


def rfc3339_micro(value: datetime) -> str:
    """`2022-01-04T10:34:31.000000Z`: the fixed-width form catalogues use for ingestion dates."""
    value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
