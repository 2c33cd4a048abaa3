"""Per-provider concurrency limits inside one process (a download worker runs jobs in threads).

Providers cap parallel downloads per account (CDSE allows a few at a time), so each
provider name gets a semaphore sized by its `max_concurrency` setting.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_semaphores: dict[tuple[str, int], threading.BoundedSemaphore] = {}


def semaphore(provider: str, size: int) -> threading.BoundedSemaphore:
    with _lock:
        key = (provider, size)
        if key not in _semaphores:
            _semaphores[key] = threading.BoundedSemaphore(size)
        return _semaphores[key]


@contextmanager
def provider_slot(provider: str, size: int) -> Iterator[None]:
    """Hold one of `provider`'s `size` download slots for the duration of the block."""
    slot = semaphore(provider, size)
    with slot:
        yield
