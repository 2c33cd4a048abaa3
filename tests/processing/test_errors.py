"""Classifying failures: from exception types and from what programs print."""

from __future__ import annotations

import errno

import pytest

from geocube_ingest.errors import FatalError, InvalidInput, RetriableError, TemporaryError
from geocube_ingest.processing.errors import classify_exception, classify_output


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (FatalError("x"), FatalError),
        (TemporaryError("x"), TemporaryError),
        (InvalidInput("bad band"), FatalError),
        (TimeoutError("slow"), TemporaryError),
        (ConnectionResetError("reset"), TemporaryError),
        (OSError(errno.ENOSPC, "No space left on device"), TemporaryError),
        (OSError(errno.EACCES, "Permission denied"), RetriableError),
        (ValueError("FATAL ERROR: unsupported"), FatalError),
        (RuntimeError("TEMPORARY ERROR: retry later"), TemporaryError),
        (RuntimeError("Temporary failure in name resolution"), TemporaryError),
        (KeyError("B13"), RetriableError),
        (MemoryError(), RetriableError),
    ],
)
def test_exceptions(exc: BaseException, kind: type) -> None:
    classified = classify_exception(exc, "step 2 (xarray convert)")
    assert type(classified) is kind
    assert str(classified).startswith("step 2 (xarray convert): ")


def test_distributed_comm_errors_are_temporary() -> None:
    from distributed.comm.core import CommClosedError

    assert isinstance(classify_exception(CommClosedError("lost")), TemporaryError)


def test_output_lines() -> None:
    fatal = classify_output(["reading", "FATAL ERROR: product corrupt", "ERROR: and then this"], 1, "extract.py")
    assert isinstance(fatal, FatalError), "a fatal line wins over later errors"
    assert str(fatal) == "extract.py exited with status 1 (ERROR: and then this)"
    temporary = classify_output(["TEMPORARY ERROR: quota"], 2, "cmd")
    assert isinstance(temporary, TemporaryError) and "(TEMPORARY ERROR: quota)" in str(temporary)
    snap = classify_output(["Error: Try again later"], 1, "gpt")
    assert isinstance(snap, TemporaryError), "SNAP's 'Try again' (upstream's SNAP filter)"
    plain = classify_output(["Traceback (most recent call last):", '  File "x.py"', "KeyError: 'B13'"], 1, "x.py")
    assert isinstance(plain, RetriableError) and "KeyError: 'B13'" in str(plain)
    silent = classify_output([], 9, "tool")
    assert isinstance(silent, RetriableError) and str(silent) == "tool exited with status 9"
