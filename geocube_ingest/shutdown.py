"""Stopping when asked: SIGTERM or SIGINT ends a long-running command within seconds.

A signal is about the whole process, so the request is process-wide: drain loops stop
starting batches, batches start no new job, and downloads and waits for a provider slot
raise `Stopped` at their next chunk or look. Leases and provider slots of the work that
stopped are given back, so a later run (here or anywhere) resumes it at once. A job that
cannot be interrupted (a graph step running on Dask) gets `grace` seconds; after that, or
at a second signal, the process gives back everything it still holds and exits at once
with 128 + the signal number, as a shell reports a process ended by that signal.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from types import FrameType
from typing import NoReturn

log = logging.getLogger(__name__)

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Stopped(BaseException):
    """Raised inside work when the process is asked to stop.

    A BaseException, so that the `except Exception` of providers and jobs, which turn errors
    into task outcomes, let it through: stopping is not a failure of the task.
    """


class _State:
    def __init__(self) -> None:
        self.event = threading.Event()
        self.signum: int | None = None
        self.received = 0  # signals our handler got
        self.work_left = False
        self.lock = threading.Lock()


_state = _State()


def event() -> threading.Event:
    """Set once the process is asked to stop (what drain loops wait on)."""
    return _state.event


def requested() -> bool:
    return _state.event.is_set()


def request(signum: int | None = None) -> None:
    """Ask this process to stop (what the signal handlers do)."""
    with _state.lock:
        if _state.signum is None and signum is not None:
            _state.signum = signum
    _state.event.set()


def check() -> None:
    """Raise `Stopped` if the process is asked to stop (long loops call it between steps)."""
    if _state.event.is_set():
        raise Stopped()


def mark_work_left() -> None:
    """Work was given back unfinished: the command must exit non-zero."""
    _state.work_left = True


def work_left() -> bool:
    return _state.work_left


def signal_exit_code() -> int:
    """128 + the signal that stopped the process (SIGTERM when it was asked another way)."""
    return 128 + (_state.signum or signal.SIGTERM)


def reset() -> None:
    """Forget a previous request (tests, and a server started again in the same process)."""
    global _state
    _state = _State()


_exit_hooks: list[Callable[[], None]] = []


def on_exit_now(hook: Callable[[], None]) -> None:
    """Run `hook` when the process leaves through `exit_now`, which skips `atexit`: for child
    processes that would otherwise outlive it (Prefect's ephemeral API server)."""
    if hook not in _exit_hooks:
        _exit_hooks.append(hook)


def exit_now(code: int) -> NoReturn:
    """Leave at once, without waiting for threads still running jobs (their work was given back)."""
    for hook in _exit_hooks:
        try:
            hook()
        except Exception as exc:  # leaving matters more
            log.warning("while leaving: %s", exc)
    for stream in (sys.stdout, sys.stderr):
        with suppress(Exception):
            stream.flush()
    os._exit(code)


@contextmanager
def handle_signals(give_back: Callable[[], None], grace: float) -> Iterator[None]:
    """SIGTERM and SIGINT ask the process to stop while the block runs (main thread only).

    If the process is still there `grace` seconds after the first signal, or at a second
    one, `give_back` runs (it returns leases and provider slots) and the process exits at
    once with 128 + the signal. Handlers that others install meanwhile (uvicorn, Prefect)
    win while they are installed; Prefect and uvicorn hand the signal back to ours.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    watchdog: list[threading.Timer] = []

    def force() -> None:
        log.warning("still running %.0f s after the stop signal: giving work back and leaving now", grace)
        _give_back_quietly(give_back)
        exit_now(signal_exit_code())

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        _state.received += 1
        if _state.received > 1:
            _give_back_quietly(give_back)
            exit_now(128 + signum)
        request(signum)
        log.warning("%s received: stopping (work in progress is given back)", signal.Signals(signum).name)
        timer = threading.Timer(grace, force)
        timer.daemon = True
        timer.start()
        watchdog.append(timer)

    previous = {sig: signal.signal(sig, on_signal) for sig in SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for timer in watchdog:
            timer.cancel()


def _give_back_quietly(give_back: Callable[[], None]) -> None:
    try:
        give_back()
    except Exception as exc:  # the database may be gone: leases then expire on their own
        log.warning("could not give work back: %s", exc)
