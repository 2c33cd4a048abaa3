"""Where the annotation files of a Sentinel-1 product are read from, without downloading the product.

A source is a URL (any fsspec URL the storage settings can open: local, s3://, gs://, http(s)://):
- a `.SAFE` folder (or any folder holding one): its `annotation/*.xml` files are read;
- a zip archive of the product: the zip's central directory and the few annotation members
  are read with range requests (a few hundred kB of a multi-GB product);
- a single annotation `.xml` file.
Only one polarisation per swath is read (the bursts are the same in every polarisation),
plus `manifest.safe` when present (its orbit numbers make burst ids exact across the
ascending node).

Sources are input (payload patterns, scene links): each URL is checked against the operator's
lists (`access.check_link`) before it is opened, each file read is capped in size
(`security.max_annotation_bytes`) and each zip member in compression ratio, so a request
costs bounded memory; errors say "not allowed", "not found" or "could not be read", never
what the server met there.
"""

from __future__ import annotations

import logging
import re
import zipfile
from dataclasses import dataclass, field
from typing import Any

import fsspec

from geocube_ingest import storage
from geocube_ingest.access import check_link
from geocube_ingest.download.archive import UnsafeArchive, read_member
from geocube_ingest.errors import GeocubeIngestError, InvalidInput, NotFound, TemporaryError
from geocube_ingest.settings import Settings, get_settings

ANNOTATION = re.compile(r"(?:^|/)annotation/s1[a-z]-([a-z]{2}\d?)-(slc|grd)-(vv|vh|hh|hv)-[^/]*\.xml$", re.I)
MANIFEST = re.compile(r"(?:^|/)manifest\.safe$", re.I)
POLARISATION_ORDER = ("vv", "hh", "vh", "hv")
log = logging.getLogger(__name__)
# A product zip has about a hundred members: a directory much larger than this is not one.
MAX_ZIP_ENTRIES = 100_000
MAX_ZIP_DIRECTORY_BYTES = 16 * 1024**2


@dataclass(slots=True)
class AnnotationFiles:
    source: str
    annotations: list[tuple[str, bytes]] = field(default_factory=list)  # (where, content), one per swath
    manifest: bytes | None = None


def select_members(names: list[str]) -> tuple[list[str], str | None]:
    """One annotation per swath (VV, then HH, VH, HV) and the top-most manifest.safe."""
    best: dict[str, tuple[int, str]] = {}
    for name in names:
        match = ANNOTATION.search(name)
        if not match:
            continue
        swath, pol = match.group(1).lower(), match.group(3).lower()
        rank = POLARISATION_ORDER.index(pol)
        if swath not in best or (rank, name) < best[swath]:
            best[swath] = (rank, name)
    manifests = sorted((n for n in names if MANIFEST.search(n)), key=lambda n: (n.count("/"), n))
    return [best[s][1] for s in sorted(best)], (manifests[0] if manifests else None)


def _is_local(fs: fsspec.AbstractFileSystem) -> bool:
    return "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,))


def _open_options(fs: fsspec.AbstractFileSystem, settings: Settings) -> dict[str, Any]:
    if _is_local(fs):
        return {}
    # Small blocks with a block cache: the zip directory and each member cost a few requests.
    return {"block_size": settings.catalogue.annotation_block_bytes, "cache_type": "blockcache"}


def _read_capped(fs: fsspec.AbstractFileSystem, path: str, url: str, settings: Settings) -> bytes:
    """A whole file, refused past `security.max_annotation_bytes` (never more is held in memory)."""
    limit = settings.security.max_annotation_bytes
    with fs.open(path, "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise InvalidInput(f"{url}: larger than {limit} bytes (security.max_annotation_bytes)")
    return bytes(data)


def _check_directory(handle: Any, url: str) -> None:
    """Refuse zips whose central directory alone would fill the memory (zipfile reads it whole)."""
    # zipfile's reader of the end record: private, but the same since Python 2.
    end = getattr(zipfile, "_EndRecData", lambda _h: None)(handle)
    if end is None:
        raise InvalidInput(f"{url} is not a zip archive")
    entries, size = end[zipfile._ECD_ENTRIES_TOTAL], end[zipfile._ECD_SIZE]  # type: ignore[attr-defined]
    if entries > MAX_ZIP_ENTRIES or size > MAX_ZIP_DIRECTORY_BYTES:
        raise InvalidInput(f"{url}: a zip of {entries} members is not a Sentinel-1 product")
    handle.seek(0)


def _from_zip(url: str, fs: fsspec.AbstractFileSystem, path: str, settings: Settings) -> AnnotationFiles:
    found = AnnotationFiles(url)
    caps = settings.security
    with fs.open(path, "rb", **_open_options(fs, settings)) as handle:
        _check_directory(handle, url)
        try:
            archive = zipfile.ZipFile(handle)
        except zipfile.BadZipFile as exc:
            if isinstance(exc.__context__, OSError):  # zipfile reports a failed read (a timeout) as a bad zip
                cause = exc.__context__
                raise TemporaryError(f"{url}: {type(cause).__name__}: {cause}") from None
            raise InvalidInput(f"{url} is not a zip archive") from None
        with archive:

            def member(name: str) -> bytes:
                return read_member(
                    archive, name, max_bytes=caps.max_annotation_bytes, max_ratio=caps.max_compression_ratio
                )

            chosen, manifest = select_members(archive.namelist())
            found.annotations = [(f"{url}!/{name}", member(name)) for name in chosen]
            if manifest:
                found.manifest = member(manifest)
    return found


def _from_folder(url: str, fs: fsspec.AbstractFileSystem, path: str, settings: Settings) -> AnnotationFiles:
    found = AnnotationFiles(url)
    names = [str(p) for p in fs.find(path, maxdepth=4)]
    chosen, manifest = select_members(names)
    local = _is_local(fs)
    for name in chosen:
        if local:  # a symbolic link in an allowed folder must not lead out of the allowed ones
            check_link(name, settings, what="annotation file")
        found.annotations.append((name, _read_capped(fs, name, name, settings)))
    if manifest:
        if local:
            check_link(manifest, settings, what="manifest")
        found.manifest = _read_capped(fs, manifest, manifest, settings)
    return found


def read_source(url: str, *, settings: Settings | None = None) -> AnnotationFiles:
    """The annotations found at `url`; NotAllowed/NotFound/InvalidInput say why not, TemporaryError when
    it cannot be reached now."""
    settings = settings or get_settings()
    check_link(url, settings, what="annotation source")
    try:
        fs, path = storage.filesystem(url, settings, timeout=settings.catalogue.timeout_seconds)
        lower = path.lower().rstrip("/")
        if lower.endswith(".xml"):
            return AnnotationFiles(url, [(url, _read_capped(fs, path, url, settings))])
        if lower.endswith(".zip"):
            return _from_zip(url, fs, path, settings)
        if fs.isdir(path):
            return _from_folder(url, fs, path, settings)
        if fs.isfile(path):
            return _from_zip(url, fs, path, settings)
    except FileNotFoundError as exc:
        cause = exc.__cause__
        if cause is not None and not isinstance(cause, FileNotFoundError) and "404" not in str(cause):
            # fsspec's HTTP client reports a refused connection as "not found": it is not.
            raise _unreachable(url) from None
        raise NotFound(f"{url}: not found") from None
    except UnsafeArchive as exc:
        raise InvalidInput(f"{url}: {exc}") from None
    except GeocubeIngestError:
        raise
    except (IsADirectoryError, NotADirectoryError, PermissionError):
        raise NotFound(f"{url}: not found") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError):
        raise InvalidInput(f"{url}: not a readable zip archive") from None
    except Exception:  # network and client library errors (aiohttp, botocore): their text stays in the log
        log.info("annotation source %s could not be read", url, exc_info=True)
        raise _unreachable(url) from None
    raise NotFound(f"{url}: not found")


def _unreachable(url: str) -> TemporaryError:
    # One message for refused connections, resets and answers that are not HTTP: no port scanning.
    return TemporaryError(f"{url}: could not be read (unreachable or not answering)")


def read_files(urls: list[str], *, settings: Settings | None = None) -> AnnotationFiles:
    """Annotation files listed one by one (e.g. a STAC item's per-swath annotation assets)."""
    found = AnnotationFiles(urls[0] if urls else "")
    chosen, _ = select_members([u.split("?", 1)[0] for u in urls])
    for url in urls:
        if url.split("?", 1)[0] in chosen:
            found.annotations.extend(read_source(url, settings=settings).annotations)
    return found
