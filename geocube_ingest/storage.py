"""Storage over fsspec: every URL the product reads or writes goes through here.

Local paths, `file://`, `s3://` (endpoint and credentials from settings), `gs://` and
read-only `http(s)://`.

Writes are atomic so a reader (or a re-run after a crash) never sees half an object:
- local files are written under a hidden temporary name in the target folder and renamed;
  temporary files left by a killed process are removed by the next write of that target;
- S3 and GCS objects only become visible when their upload is committed (single PUT,
  completed multipart upload, finalised resumable upload), so they are written in place;
- any other filesystem gets a temporary name and a move.
Directories (a `.SAFE` product) are stored as one zip at `url + ".zip"` and restored by
`get_path`.
"""

from __future__ import annotations

import builtins
import contextlib
import glob
import logging
import os
import shutil
import socket
import tempfile
import time
import uuid
import zipfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import fsspec
from fsspec.core import url_to_fs
from fsspec.implementations.local import LocalFileSystem

from geocube_ingest.access import NotAllowed, check_storage_uri
from geocube_ingest.access import protocol_of as protocol_of  # part of this module's interface
from geocube_ingest.errors import FatalError, InvalidInput, NotFound
from geocube_ingest.settings import Settings, get_settings

log = logging.getLogger(__name__)

# Object stores whose uploads are invisible until committed: no temporary name needed.
_COMMITTING_PROTOCOLS = frozenset({"s3", "s3a", "gs", "gcs"})
_READ_ONLY_PROTOCOLS = frozenset({"http", "https"})
_TEMP_SUFFIX = ".part"
# Temporary files of another host cannot be checked for a live writer: they are only swept when this old.
_STALE_TEMP_SECONDS = 24 * 3600
# Members that are already compressed are stored as is in product zips (no CPU spent for nothing).
_STORED_EXTENSIONS = frozenset({".jp2", ".zip", ".gz", ".png", ".jpg", ".jpeg", ".zst", ".bz2", ".xz"})
_COPY_CHUNK = 8 * 1024 * 1024


def storage_options(url: str, settings: Settings | None = None, timeout: float | None = None) -> dict[str, Any]:
    """fsspec options for `url`'s protocol, taken from settings (never from payloads).

    `timeout` bounds each connect and each read of http(s) (default: the download timeouts).
    """
    settings = settings or get_settings()
    protocol = protocol_of(url)
    if protocol in _READ_ONLY_PROTOCOLS:
        return {"client_kwargs": {"timeout": http_timeout(settings, timeout)}}
    if protocol in ("s3", "s3a"):
        s3 = settings.s3
        options: dict[str, Any] = {}
        if s3.anonymous:
            options["anon"] = True
        if s3.access_key_id is not None:
            options["key"] = s3.access_key_id.get_secret_value()
        if s3.secret_access_key is not None:
            options["secret"] = s3.secret_access_key.get_secret_value()
        if s3.session_token is not None:
            options["token"] = s3.session_token.get_secret_value()
        client_kwargs: dict[str, Any] = {}
        if s3.endpoint_url:
            client_kwargs["endpoint_url"] = s3.endpoint_url
        if s3.region:
            client_kwargs["region_name"] = s3.region
        if client_kwargs:
            options["client_kwargs"] = client_kwargs
        return options
    if protocol in ("gs", "gcs"):
        gcs = settings.gcs
        options = {}
        if gcs.endpoint_url:
            options["endpoint_url"] = gcs.endpoint_url
        if gcs.project:
            options["project"] = gcs.project
        if gcs.token:
            options["token"] = gcs.token
        return options
    if protocol in ("file", "local"):
        return {"auto_mkdir": True}
    return {}


def http_timeout(settings: Settings, timeout: float | None = None) -> Any:
    """aiohttp's timeouts for fsspec's HTTP filesystem: without them a silent server blocks for 5 minutes."""
    import aiohttp

    d = settings.download
    read = timeout or d.timeout_seconds
    return aiohttp.ClientTimeout(total=None, sock_connect=min(read, d.connect_timeout_seconds), sock_read=read)


def filesystem(
    url: str, settings: Settings | None = None, timeout: float | None = None
) -> tuple[fsspec.AbstractFileSystem, str]:
    """The filesystem serving `url` and the path within it (`timeout`: see storage_options)."""
    if not url:
        raise InvalidInput("empty storage URL")
    options = storage_options(url, settings, timeout)
    if protocol_of(url) in ("gs", "gcs") and options.get("endpoint_url"):
        # A custom endpoint (emulator, private gateway) speaks JSON only: gcsfs' experimental
        # zonal/HNS class would wait a minute on gRPC calls it cannot answer.
        from gcsfs.core import GCSFileSystem

        fs = GCSFileSystem(**options)
        return fs, fs._strip_protocol(url)
    fs, path = url_to_fs(url, **options)
    return fs, path


def _is_local(fs: fsspec.AbstractFileSystem) -> bool:
    return isinstance(fs, LocalFileSystem)


def _check_writable(url: str) -> None:
    if protocol_of(url) in _READ_ONLY_PROTOCOLS:
        raise InvalidInput(f"cannot write to {url}: http(s) storage is read-only")


# -- names ---------------------------------------------------------------------------


def join(base: str, *parts: str) -> str:
    """Join path segments onto a local path or URL with "/" (never lets a part reset the root)."""
    pieces = [p.strip("/") for p in parts if p and p.strip("/")]
    if not pieces:
        return base
    if not base:
        return "/".join(pieces)
    if base.endswith("://"):
        return base + "/".join(pieces)
    return base.rstrip("/") + "/" + "/".join(pieces)


def basename(url: str) -> str:
    """Last segment of a path or URL (query strings excluded)."""
    return url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]


def _segment(name: str, what: str) -> str:
    if not name or "/" in name or name in (".", ".."):
        raise InvalidInput(f"invalid {what} {name!r} for a storage path: it must be a non-empty name without '/'")
    return name


def tile_folder_uri(storage_uri: str, aoi: str, scene_source_id: str, tile_source_id: str) -> str:
    """The folder of a tile's layers: `<storage_uri>/<aoi>/<scene>/tiles/<tile>` (SPEC section 6)."""
    if not storage_uri:
        raise InvalidInput("empty storage_uri")
    return join(
        storage_uri,
        _segment(aoi, "AOI name"),
        _segment(scene_source_id, "scene id"),
        "tiles",
        _segment(tile_source_id, "tile id"),
    )


def tile_output_uri(
    storage_uri: str,
    aoi: str,
    scene_source_id: str,
    tile_source_id: str,
    date: datetime,
    layer: str,
    ext: str,
) -> str:
    """Where a tile's layer is stored (SPEC section 6).

    `<storage_uri>/<aoi>/<scene>/tiles/<tile>/<YYYYMMDD>_<tile>_<layer>.<ext>`
    """
    folder = tile_folder_uri(storage_uri, aoi, scene_source_id, tile_source_id)
    tile = _segment(tile_source_id, "tile id")
    extension = ext.lstrip(".")
    name = f"{date:%Y%m%d}_{tile}_{_segment(layer, 'layer')}" + (f".{extension}" if extension else "")
    return join(folder, name)


def resolve_storage_uri(scene_data: dict[str, Any], *, settings: Settings | None = None) -> str:
    """The scene's storage root: the payload's `storage_uri`, else the configured default.

    A `storage_uri` outside the allowed storage roots (input that went around the checks at
    submission, e.g. an old scene) is a FatalError: the job FAILS and nothing is written.
    """
    settings = settings or get_settings()
    uri = scene_data.get("storage_uri") if isinstance(scene_data, dict) else None
    if not uri:
        return settings.resolved_storage_uri
    try:
        return check_storage_uri(str(uri), settings)
    except NotAllowed as exc:
        raise FatalError(str(exc)) from None


# -- reads ---------------------------------------------------------------------------


def exists(url: str, *, settings: Settings | None = None) -> bool:
    fs, path = filesystem(url, settings)
    # Another worker may have written it since this process listed the folder.
    fs.invalidate_cache(path)
    return bool(fs.exists(path))


def isdir(url: str, *, settings: Settings | None = None) -> bool:
    fs, path = filesystem(url, settings)
    fs.invalidate_cache(path)
    return bool(fs.isdir(path))


def size(url: str, *, settings: Settings | None = None) -> int | None:
    """Size in bytes of the object at `url` (None when the server does not tell)."""
    fs, path = filesystem(url, settings)
    fs.invalidate_cache(path)
    try:
        value = fs.size(path)
    except FileNotFoundError:
        raise NotFound(f"{url} not found") from None
    return int(value) if value is not None else None


def open(url: str, mode: str = "rb", *, settings: Settings | None = None, **kwargs: Any) -> IO[Any]:
    """A file-like object (use it as a context manager). Writing through it is NOT atomic."""
    if any(flag in mode for flag in "wax+"):
        _check_writable(url)
    fs, path = filesystem(url, settings)
    try:
        opened: IO[Any] = fs.open(path, mode, **kwargs)
        return opened
    except FileNotFoundError:
        raise NotFound(f"{url} not found") from None


def holds_pending(url: str) -> bool:
    """Can `PendingWrite` write to `url` (a file system, S3, GCS)?"""
    return protocol_of(url) in ("file", "local") or commits_atomically(url)


def commits_atomically(url: str) -> bool:
    """Does an object written through `open(url, "wb")` appear only whole, when closed (S3, GCS)?"""
    return protocol_of(url) in _COMMITTING_PROTOCOLS


def discard(handle: IO[Any]) -> None:
    """Abandon a write through `open`: the object store drops the upload (nothing appears).

    Best effort, called while another error is on its way: a store that cannot cancel leaves
    an unfinished upload (never visible as an object; S3 lifecycle rules expire them).
    """
    drop = getattr(handle, "discard", None)
    if callable(drop):
        try:
            drop()
        except Exception as exc:
            log.warning("could not cancel the upload to %s: %s", getattr(handle, "path", "storage"), exc)
    if hasattr(handle, "buffer"):  # fsspec: closing now would upload what is buffered
        handle.closed = True  # type: ignore[misc]
    else:
        handle.close()


class PendingWrite:
    """An object written now that appears under its URL only once committed, whole.

    On S3/GCS an upload whose parts are sent as they are written but completed only by
    `commit` (a multipart upload; a resumable one); on a file system a temporary file next
    to the target, renamed onto it by `commit`. `discard` drops it: nothing appears.
    """

    def __init__(self, url: str, *, settings: Settings | None = None):
        _check_writable(url)
        self.url = url
        fs, self._path = filesystem(url, settings)
        self._fs = fs
        self._temp: Path | None = None
        if _is_local(fs):
            Path(self._path).parent.mkdir(parents=True, exist_ok=True)
            sweep_local_temps(Path(self._path))
            self._temp = Path(_temp_name(self._path))
            self.handle: IO[Any] = builtins.open(self._temp, "wb")  # noqa: SIM115  (closed by commit or discard)
        elif commits_atomically(url):
            self.handle = fs.open(self._path, "wb", autocommit=False)
        else:
            raise InvalidInput(f"{protocol_of(url)}:// storage cannot hold an upload until it is committed")
        self.state = "open"

    @property
    def local_file(self) -> Path | None:
        """The file being written, on a file system."""
        return self._temp

    def commit(self) -> str:
        """Make the object appear under its URL (closing it first if needed)."""
        if self.state != "open":
            raise RuntimeError(f"{self.url} was already {self.state}")
        if self._temp is not None:
            self.handle.close()
            os.replace(self._temp, self._path)
        else:
            if not self.handle.closed:
                self.handle.close()  # sends what is buffered; the object does not exist yet
            self.handle.commit()  # type: ignore[attr-defined]
        self.state = "committed"  # not before: a commit that failed can still be discarded
        self._fs.invalidate_cache(self._path)
        return self.url

    def discard(self) -> None:
        """Drop the write (best effort, like `discard`); a no-op once committed or discarded."""
        if self.state != "open":
            return
        self.state = "discarded"
        if self._temp is not None:
            self.handle.close()
            self._temp.unlink(missing_ok=True)
        else:
            discard(self.handle)


def read_range(url: str, start: int, end: int, *, settings: Settings | None = None) -> bytes:
    """Bytes `[start, end)` of the object, asked for as a range (never the whole object)."""
    if start < 0 or end < start:
        raise InvalidInput(f"invalid byte range [{start}, {end}) for {url}")
    if end == start:
        return b""
    fs, path = filesystem(url, settings)
    try:
        data = bytes(fs.cat_file(path, start=start, end=end))
    except FileNotFoundError:
        raise NotFound(f"{url} not found") from None
    if len(data) > end - start:
        # The server ignored the Range header and sent the whole object: keep the asked part.
        log.warning("%s ignored a range request: the whole object was transferred", protocol_of(url))
        data = data[start:end]
    return data


def read_bytes(url: str, *, settings: Settings | None = None) -> bytes:
    fs, path = filesystem(url, settings)
    try:
        return bytes(fs.cat_file(path))
    except FileNotFoundError:
        raise NotFound(f"{url} not found") from None


def listdir(url: str, *, settings: Settings | None = None) -> list[str]:
    """Full URLs (or paths, for a plain local path) of the direct children of `url`, sorted."""
    fs, path = filesystem(url, settings)
    fs.invalidate_cache(path)
    try:
        entries = fs.ls(path, detail=False)
    except FileNotFoundError:
        raise NotFound(f"{url} not found") from None
    protocol = protocol_of(url)
    own = path.rstrip("/")
    children = []
    for entry in entries:
        name = str(entry).rstrip("/")
        if name == own:  # some object stores list the "folder" marker itself
            continue
        children.append(_to_url(name, url, protocol))
    return sorted(set(children))


def _to_url(path: str, original: str, protocol: str) -> str:
    if "://" in path:
        return path
    if protocol == "file":
        return "file://" + path if original.startswith("file://") else path
    return f"{protocol}://{path}"


# -- atomic writes -------------------------------------------------------------------


def _host_token() -> str:
    """This host's name as it appears in temporary names (no dots: they separate the name's parts)."""
    return socket.gethostname().replace(".", "_")


def _temp_name(target: str) -> str:
    folder, _, name = target.rpartition("/")
    token = f"{_host_token()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    temp = f".{name}.{token}{_TEMP_SUFFIX}"
    return f"{folder}/{temp}" if folder else temp


def _writer_gone(temp_name: str, now: float, mtime: float) -> bool:
    """Is the process that wrote this temporary file dead (so the file can go)?"""
    parts = temp_name[: -len(_TEMP_SUFFIX)].rsplit(".", 1)[-1].rsplit("-", 2)
    if len(parts) != 3:
        return now - mtime > _STALE_TEMP_SECONDS
    host, pid, _ = parts
    if host != _host_token() or not pid.isdigit():
        return now - mtime > _STALE_TEMP_SECONDS
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def sweep_local_temps(target: Path) -> int:
    """Remove temporary files of `target` whose writer died (kill -9 half way); returns how many."""
    folder = target.parent
    if not folder.is_dir():
        return 0
    removed = 0
    now = time.time()
    for candidate in folder.glob(f".{glob.escape(target.name)}.*{_TEMP_SUFFIX}"):
        with contextlib.suppress(FileNotFoundError):
            if _writer_gone(candidate.name, now, candidate.stat().st_mtime):
                candidate.unlink()
                removed += 1
    return removed


@contextlib.contextmanager
def _local_atomic(target: Path) -> Iterator[Path]:
    """A temporary path next to `target`, renamed onto it when the block succeeds."""
    target.parent.mkdir(parents=True, exist_ok=True)
    sweep_local_temps(target)
    temp = Path(_temp_name(str(target)))
    try:
        yield temp
        with builtins.open(temp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()


def put_file(local: Path, url: str, *, settings: Settings | None = None) -> None:
    """Store a local file at `url`, atomically."""
    local = Path(local)
    if not local.is_file():
        raise NotFound(f"{local} is not a file")
    _check_writable(url)
    fs, path = filesystem(url, settings)
    if _is_local(fs):
        with _local_atomic(Path(path)) as temp:
            shutil.copyfile(local, temp)
        return
    if protocol_of(url) in _COMMITTING_PROTOCOLS:
        fs.put_file(str(local), path)
    else:
        temp_path = _temp_name(path)
        try:
            fs.put_file(str(local), temp_path)
            fs.mv(temp_path, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                if fs.exists(temp_path):
                    fs.rm(temp_path)
    fs.invalidate_cache(path)


def put_bytes(data: bytes, url: str, *, settings: Settings | None = None) -> None:
    """Store `data` at `url`, atomically."""
    _check_writable(url)
    fs, path = filesystem(url, settings)
    if _is_local(fs):
        with _local_atomic(Path(path)) as temp:
            temp.write_bytes(data)
        return
    if protocol_of(url) in _COMMITTING_PROTOCOLS:
        fs.pipe_file(path, data)
    else:
        temp_path = _temp_name(path)
        try:
            fs.pipe_file(temp_path, data)
            fs.mv(temp_path, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                if fs.exists(temp_path):
                    fs.rm(temp_path)
    fs.invalidate_cache(path)


def get_file(url: str, local: Path, *, settings: Settings | None = None) -> Path:
    """Copy the object at `url` to `local` (temporary name, then rename); returns `local`."""
    local = Path(local)
    fs, path = filesystem(url, settings)
    with _local_atomic(local) as temp:
        try:
            fs.get_file(path, str(temp))
        except FileNotFoundError:
            raise NotFound(f"{url} not found") from None
        if not temp.exists():  # some filesystems do not create empty files
            temp.touch()
    return local


# -- directory products --------------------------------------------------------------


def zip_directory(folder: Path, archive: Path, root_name: str | None = None) -> Path:
    """Zip `folder` so that its members sit under `root_name/` (the folder's name by default)."""
    root = root_name or folder.name
    with zipfile.ZipFile(archive, "w", allowZip64=True) as zf:
        zf.writestr(zipfile.ZipInfo(root + "/"), b"")
        for entry in sorted(folder.rglob("*")):
            if entry.is_symlink():
                raise InvalidInput(f"refusing to store {folder}: {entry} is a symbolic link")
            arcname = f"{root}/{entry.relative_to(folder).as_posix()}"
            if entry.is_dir():
                zf.writestr(zipfile.ZipInfo(arcname + "/"), b"")
                continue
            stored = entry.suffix.lower() in _STORED_EXTENSIONS
            zf.write(
                entry,
                arcname,
                compress_type=zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED,
                compresslevel=None if stored else 1,
            )
    return archive


def put_path(local: Path, url: str, *, settings: Settings | None = None) -> str:
    """Store a file at `url`, or a directory zipped at `url + ".zip"`; returns the stored URL.

    The zip holds one top folder named like `url`'s last segment, so `get_path(url)`
    restores the directory under that name.
    """
    local = Path(local)
    if local.is_file():
        put_file(local, url, settings=settings)
        return url
    if not local.is_dir():
        raise NotFound(f"{local} does not exist")
    _check_writable(url)
    target = url.rstrip("/") + ".zip"
    with tempfile.TemporaryDirectory(prefix="put-path-", dir=local.parent) as scratch:
        archive = zip_directory(local, Path(scratch) / "product.zip", basename(url))
        put_file(archive, target, settings=settings)
    return target


def get_path(url: str, local_dir: Path, *, settings: Settings | None = None) -> Path:
    """Bring the logical object `url` into `local_dir`: a file, a directory, or a zipped directory.

    Returns the local path named like `url`'s last segment.
    """
    from geocube_ingest.download.archive import unpack_archive  # download imports storage: import late

    local_dir = Path(local_dir)
    local_dir.mkdir(parents=True, exist_ok=True)
    name = basename(url)
    destination = local_dir / name
    fs, path = filesystem(url, settings)
    fs.invalidate_cache(path)
    if fs.isfile(path):
        return get_file(url, destination, settings=settings)
    if fs.isdir(path):
        _get_directory(url, destination, settings=settings)
        return destination
    zipped = url.rstrip("/") + ".zip"
    if not exists(zipped, settings=settings):
        raise NotFound(f"{url} not found (nor {basename(zipped)})")
    with tempfile.TemporaryDirectory(prefix="get-path-", dir=local_dir) as scratch:
        archive = get_file(zipped, Path(scratch) / "product.zip", settings=settings)
        unpacked = Path(scratch) / "unpacked"
        unpack_archive(archive, unpacked)
        tops = list(unpacked.iterdir())
        source = tops[0] if len(tops) == 1 and tops[0].is_dir() else unpacked
        _replace_dir(source, destination)
    return destination


def _get_directory(url: str, destination: Path, *, settings: Settings | None = None) -> None:
    """Copy a stored folder (e.g. a `.SAFE` directory tree) into `destination`, all or nothing."""
    fs, path = filesystem(url, settings)
    with tempfile.TemporaryDirectory(prefix="get-dir-", dir=destination.parent) as scratch:
        staging = Path(scratch) / "tree"
        staging.mkdir()
        root = path.rstrip("/")
        for member in fs.find(root):
            relative = member[len(root) :].lstrip("/")
            if not relative or relative.startswith("..") or "/../" in f"/{relative}/":
                continue
            target = staging / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            fs.get_file(member, str(target))
        _replace_dir(staging, destination)


def _replace_dir(source: Path, destination: Path) -> None:
    if destination.exists():
        shutil.rmtree(destination) if destination.is_dir() else destination.unlink()
    os.replace(source, destination)


# -- delete --------------------------------------------------------------------------


def delete(url: str, recursive: bool = False, *, settings: Settings | None = None) -> None:
    """Remove the object (or the folder with `recursive`); a missing object is not an error."""
    _check_writable(url)
    fs, path = filesystem(url, settings)
    fs.invalidate_cache(path)
    try:
        if recursive:
            if fs.exists(path):
                fs.rm(path, recursive=True)
        elif fs.isdir(path) and _is_local(fs):
            raise InvalidInput(f"{url} is a folder: delete it with recursive=True")
        else:
            fs.rm_file(path)
    except FileNotFoundError:
        pass
    fs.invalidate_cache(path)


# -- GDAL (rasterio) access ------------------------------------------------------------


def gdal_path(url: str) -> str:
    """The GDAL virtual path of `url` (/vsis3/, /vsigs/, /vsicurl/ or a local path)."""
    protocol = protocol_of(url)
    rest = url.split("://", 1)[1] if "://" in url else url
    if protocol in ("file", "local"):
        return rest
    if protocol in ("s3", "s3a"):
        return "/vsis3/" + rest
    if protocol in ("gs", "gcs"):
        return "/vsigs/" + rest
    if protocol in ("http", "https"):
        return "/vsicurl/" + url
    raise InvalidInput(f"GDAL cannot read {protocol}:// URLs directly: {url}")


def gdal_env(url: str, *, settings: Settings | None = None) -> dict[str, str]:
    """GDAL configuration options reaching `url` with the configured endpoint and credentials.

    Use as `rasterio.Env(**gdal_env(url))`; the values hold secrets: never log them.
    """
    settings = settings or get_settings()
    protocol = protocol_of(url)
    env: dict[str, str] = {}
    if protocol in ("s3", "s3a"):
        s3 = settings.s3
        if s3.endpoint_url:
            endpoint = s3.endpoint_url.rstrip("/")
            env["AWS_S3_ENDPOINT"] = endpoint.split("://", 1)[-1]
            env["AWS_HTTPS"] = "NO" if endpoint.startswith("http://") else "YES"
            env["AWS_VIRTUAL_HOSTING"] = "FALSE"
        if s3.region:
            env["AWS_REGION"] = s3.region
        if s3.anonymous:
            env["AWS_NO_SIGN_REQUEST"] = "YES"
        if s3.access_key_id is not None:
            env["AWS_ACCESS_KEY_ID"] = s3.access_key_id.get_secret_value()
        if s3.secret_access_key is not None:
            env["AWS_SECRET_ACCESS_KEY"] = s3.secret_access_key.get_secret_value()
        if s3.session_token is not None:
            env["AWS_SESSION_TOKEN"] = s3.session_token.get_secret_value()
    elif protocol in ("gs", "gcs"):
        gcs = settings.gcs
        if gcs.endpoint_url:
            env["CPL_GS_ENDPOINT"] = gcs.endpoint_url.rstrip("/") + "/"
        if gcs.token == "anon":
            env["GS_NO_SIGN_REQUEST"] = "YES"
        elif gcs.token and gcs.token != "google_default":
            env["GOOGLE_APPLICATION_CREDENTIALS"] = gcs.token
    return env


def aws_session_options(env: dict[str, str]) -> dict[str, Any]:
    """Move the credentials and endpoint of `gdal_env` options into `rasterio.session.AWSSession`
    arguments (rasterio refuses AWS keys as plain options); what remains in `env` are GDAL options."""
    return {
        "aws_unsigned": env.pop("AWS_NO_SIGN_REQUEST", "") == "YES",
        "aws_access_key_id": env.pop("AWS_ACCESS_KEY_ID", None),
        "aws_secret_access_key": env.pop("AWS_SECRET_ACCESS_KEY", None),
        "aws_session_token": env.pop("AWS_SESSION_TOKEN", None),
        "region_name": env.pop("AWS_REGION", None),
        "endpoint_url": env.pop("AWS_S3_ENDPOINT", None),
    }


def rasterio_env(url: str, *, settings: Settings | None = None) -> Any:
    """A `rasterio.Env` reaching `url` with the configured endpoint and credentials."""
    import rasterio  # only processing needs it
    from rasterio.session import AWSSession

    env = gdal_env(url, settings=settings)
    if protocol_of(url) not in ("s3", "s3a"):
        return rasterio.Env(**env)
    session = AWSSession(**aws_session_options(env))
    return rasterio.Env(session=session, **env)
