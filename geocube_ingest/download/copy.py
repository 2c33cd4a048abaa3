"""Copy a product from any fsspec URL (s3://, gs://, file://, a path) into the job's folder."""

from __future__ import annotations

from pathlib import Path

from geocube_ingest import storage
from geocube_ingest.download.providers.base import ProductNotFound, Progress
from geocube_ingest.download.verify import verify_file
from geocube_ingest.errors import FatalError, NotFound
from geocube_ingest.settings import Settings


def copy_url(
    url: str,
    target: Path,
    *,
    settings: Settings,
    progress: Progress | None = None,
    expected_size: int | None = None,
    md5: str | None = None,
) -> Path:
    """Stream `url` to `target` through a `.part` file, verified (size, MD5) before the rename.

    A folder URL (a `.SAFE` tree on a bucket) is copied as a folder named like `target`.
    """
    try:
        if storage.isdir(url, settings=settings):
            return storage.get_path(url, target.parent, settings=settings)
        size = storage.size(url, settings=settings)
    except (FileNotFoundError, NotFound):
        raise ProductNotFound(f"{storage.basename(url)} not found") from None
    except PermissionError as exc:
        raise FatalError(f"access refused to {storage.basename(url)}: {exc}") from None
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    try:
        with storage.open(url, "rb", settings=settings) as source, part.open("wb") as out:
            done = 0
            while chunk := source.read(settings.download.chunk_bytes):
                out.write(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, size)
        verify_file(part, size=expected_size or size, md5=md5, what=storage.basename(url))
        part.replace(target)
    except (FileNotFoundError, NotFound):
        raise ProductNotFound(f"{storage.basename(url)} not found") from None
    except PermissionError as exc:
        raise FatalError(f"access refused to {storage.basename(url)}: {exc}") from None
    finally:
        part.unlink(missing_ok=True)
    return target
