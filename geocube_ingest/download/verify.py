"""Is the file we got the product the provider described? (size, and MD5 when it gives one)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from geocube_ingest.errors import RetriableError

_CHUNK = 4 * 1024 * 1024


class VerificationError(RetriableError):
    """The transfer completed but the file is not the announced product (size or checksum)."""


def md5_of(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with Path(path).open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify_file(path: Path, *, size: int | None = None, md5: str | None = None, what: str = "product") -> None:
    """Raise VerificationError unless `path` has the given size and MD5 (each checked when given)."""
    path = Path(path)
    actual = path.stat().st_size
    if size is not None and size > 0 and actual != size:
        raise VerificationError(f"{what}: {actual} bytes, expected {size}")
    if md5:
        digest = md5_of(path)
        if digest != md5.lower():
            raise VerificationError(f"{what}: MD5 {digest} differs from the expected {md5.lower()}")
