"""Where the annotation files of a Sentinel-1 product are read from, without downloading the product.

A source is a URL (any fsspec URL the storage settings can open: local, s3://, gs://, http(s)://):
- a `.SAFE` folder (or any folder holding one): its `annotation/*.xml` files are read;
- a zip archive of the product: the zip's central directory and the few annotation members
  are read with range requests (a few hundred kB of a multi-GB product);
- a single annotation `.xml` file.
Only one polarisation per swath is read (the bursts are the same in every polarisation),
plus `manifest.safe` when present (its orbit numbers make burst ids exact across the
ascending node).
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field
from typing import Any

import fsspec

from geocube_ingest import storage
from geocube_ingest.errors import GeocubeIngestError, InvalidInput, NotFound, TemporaryError
from geocube_ingest.settings import Settings, get_settings

ANNOTATION = re.compile(r"(?:^|/)annotation/s1[a-z]-([a-z]{2}\d?)-(slc|grd)-(vv|vh|hh|hv)-[^/]*\.xml$", re.I)
MANIFEST = re.compile(r"(?:^|/)manifest\.safe$", re.I)
POLARISATION_ORDER = ("vv", "hh", "vh", "hv")


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


def _from_zip(url: str, fs: fsspec.AbstractFileSystem, path: str, settings: Settings) -> AnnotationFiles:
    found = AnnotationFiles(url)
    with fs.open(path, "rb", **_open_options(fs, settings)) as handle:
        try:
            archive = zipfile.ZipFile(handle)
        except zipfile.BadZipFile as exc:
            if isinstance(exc.__context__, OSError):  # zipfile reports a failed read (a timeout) as a bad zip
                cause = exc.__context__
                raise TemporaryError(f"{url}: {type(cause).__name__}: {cause}") from None
            raise InvalidInput(f"{url} is not a zip archive") from None
        with archive:
            chosen, manifest = select_members(archive.namelist())
            found.annotations = [(f"{url}!/{name}", archive.read(name)) for name in chosen]
            if manifest:
                found.manifest = archive.read(manifest)
    return found


def _from_folder(url: str, fs: fsspec.AbstractFileSystem, path: str) -> AnnotationFiles:
    found = AnnotationFiles(url)
    names = [str(p) for p in fs.find(path, maxdepth=4)]
    chosen, manifest = select_members(names)
    found.annotations = [(name, fs.cat_file(name)) for name in chosen]
    if manifest:
        found.manifest = fs.cat_file(manifest)
    return found


def read_source(url: str, *, settings: Settings | None = None) -> AnnotationFiles:
    """The annotations found at `url`; NotFound when nothing is there, TemporaryError when it cannot be reached."""
    settings = settings or get_settings()
    fs, path = storage.filesystem(url, settings, timeout=settings.catalogue.timeout_seconds)
    lower = path.lower().rstrip("/")
    try:
        if lower.endswith(".xml"):
            return AnnotationFiles(url, [(url, fs.cat_file(path))])
        if lower.endswith(".zip"):
            return _from_zip(url, fs, path, settings)
        if fs.isdir(path):
            return _from_folder(url, fs, path)
        if fs.isfile(path):
            return _from_zip(url, fs, path, settings)
    except FileNotFoundError as exc:
        cause = exc.__cause__
        if cause is not None and not isinstance(cause, FileNotFoundError) and "404" not in str(cause):
            # fsspec's HTTP client reports a refused connection as "not found": it is not.
            raise TemporaryError(f"{url}: {type(cause).__name__}: {cause}") from None
        raise NotFound(f"{url}: not found") from None
    except GeocubeIngestError:
        raise
    except (OSError, ValueError) as exc:
        raise TemporaryError(f"{url}: {type(exc).__name__}: {exc}") from None
    except Exception as exc:  # client libraries (aiohttp, botocore) raise their own errors
        raise TemporaryError(f"{url}: {type(exc).__name__}: {exc}") from None
    raise NotFound(f"{url}: not found")


def read_files(urls: list[str], *, settings: Settings | None = None) -> AnnotationFiles:
    """Annotation files listed one by one (e.g. a STAC item's per-swath annotation assets)."""
    found = AnnotationFiles(urls[0] if urls else "")
    chosen, _ = select_members([u.split("?", 1)[0] for u in urls])
    for url in urls:
        if url.split("?", 1)[0] in chosen:
            found.annotations.extend(read_source(url, settings=settings).annotations)
    return found
