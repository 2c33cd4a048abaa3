"""Safe unpacking of downloaded archives (zip, tar, tar.gz...).

Providers are not trusted: a member may try to escape the work directory (`../../x`,
an absolute path), plant a symbolic or hard link, a device, or expand to far more than
the disk holds (an archive bomb: a high compression ratio). Each member is checked before
anything is written, and the bytes written are counted against the limit while unpacking
(headers can lie). `read_member` reads one member into memory under the same caps.
"""

from __future__ import annotations

import shutil
import stat
import tarfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, TypeVar

from geocube_ingest.errors import FatalError, InvalidInput, RetriableError, TemporaryError

_CHUNK = 1024 * 1024
_Info = TypeVar("_Info", zipfile.ZipInfo, tarfile.TarInfo)
DEFAULT_MAX_BYTES = 200 * 1024**3
DEFAULT_MAX_MEMBERS = 1_000_000
DEFAULT_MAX_RATIO = 100.0
# Below this many unpacked bytes a member's ratio is not judged: small files of repeated text
# compress very well and can do no harm.
RATIO_FLOOR = 1024 * 1024


class UnsafeArchive(FatalError):
    """The archive tries something that could harm the machine; it is never unpacked."""


@dataclass(frozen=True, slots=True)
class _Member:
    name: str
    is_dir: bool
    size: int
    packed: int | None = None  # compressed size, when the format tells it per member


# Deflate inflates in bounded steps; bzip2 and LZMA members can expand without limit in one call.
_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED}


def _check_method(info: zipfile.ZipInfo, where: str) -> None:
    if info.compress_type not in _METHODS:
        raise UnsafeArchive(f"{where}member {info.filename!r}: compression method {info.compress_type} is not read")


def _too_compressed(size: int, packed: int, max_ratio: float) -> bool:
    return size > RATIO_FLOOR and size > max_ratio * max(packed, 1)


def read_member(zf: zipfile.ZipFile, name: str, *, max_bytes: int, max_ratio: float = DEFAULT_MAX_RATIO) -> bytes:
    """One zip member in memory, refused (UnsafeArchive) past `max_bytes` or `max_ratio`.

    zipfile never inflates more than the announced size, and the announced size is checked
    first, so memory stays bounded whatever the archive holds.
    """
    info = zf.getinfo(name)
    if info.file_size > max_bytes:
        raise UnsafeArchive(f"member {name!r} is {info.file_size} bytes (limit {max_bytes})")
    if _too_compressed(info.file_size, info.compress_size, max_ratio):
        ratio = info.file_size / max(info.compress_size, 1)
        raise UnsafeArchive(f"member {name!r} is compressed {ratio:.0f}:1 (limit {max_ratio:g}:1, archive bomb?)")
    if info.flag_bits & 0x1:
        raise FatalError(f"member {name!r} is encrypted")
    _check_method(info, "")
    with zf.open(info) as source:
        data = source.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise UnsafeArchive(f"member {name!r} is larger than {max_bytes} bytes")
    return data


def is_archive(path: Path) -> bool:
    """Is `path` a zip or tar archive (judged by content, not by name)?"""
    path = Path(path)
    if not path.is_file():
        return False
    if zipfile.is_zipfile(path):
        return True
    try:
        return tarfile.is_tarfile(path)
    except OSError:
        return False


def _safe_relative(name: str, archive: Path) -> PurePosixPath:
    """The member's path inside the destination, or UnsafeArchive."""
    normalized = name.replace("\\", "/")
    if normalized.startswith("/") or (len(normalized) > 1 and normalized[1] == ":"):
        raise UnsafeArchive(f"refusing to unpack {archive.name}: member {name!r} has an absolute path")
    parts = [p for p in PurePosixPath(normalized).parts if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchive(f"refusing to unpack {archive.name}: member {name!r} escapes the destination")
    if not parts:
        raise UnsafeArchive(f"refusing to unpack {archive.name}: member {name!r} has an empty path")
    return PurePosixPath(*parts)


def _zip_members(zf: zipfile.ZipFile, archive: Path) -> Iterator[_Member]:
    for info in zf.infolist():
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise UnsafeArchive(f"refusing to unpack {archive.name}: member {info.filename!r} is a symbolic link")
        if mode and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)) and stat.S_IFMT(mode):
            raise UnsafeArchive(f"refusing to unpack {archive.name}: member {info.filename!r} is not a regular file")
        if info.flag_bits & 0x1:
            raise FatalError(f"cannot unpack {archive.name}: member {info.filename!r} is encrypted")
        if not info.is_dir():
            _check_method(info, f"refusing to unpack {archive.name}: ")
        yield _Member(info.filename, info.is_dir(), info.file_size, info.compress_size)


def _tar_members(tf: tarfile.TarFile, archive: Path) -> Iterator[_Member]:
    for info in tf.getmembers():
        if info.issym() or info.islnk():
            raise UnsafeArchive(f"refusing to unpack {archive.name}: member {info.name!r} is a link")
        if not (info.isfile() or info.isdir()):
            raise UnsafeArchive(f"refusing to unpack {archive.name}: member {info.name!r} is not a regular file")
        yield _Member(info.name, info.isdir(), info.size)


def _plan(
    members: Iterator[_Member], archive: Path, max_bytes: int, max_members: int, max_ratio: float
) -> list[_Member]:
    """Check every member before writing anything: the archive is refused as a whole.

    The ratio is judged per member when the format tells the packed size (zip), else on the
    whole archive (a compressed tar).
    """
    planned = list(members)
    if len(planned) > max_members:
        raise UnsafeArchive(f"refusing to unpack {archive.name}: {len(planned)} members (limit {max_members})")
    total = 0
    seen: set[PurePosixPath] = set()
    for member in planned:
        relative = _safe_relative(member.name, archive)
        if not member.is_dir and relative in seen:
            raise UnsafeArchive(f"refusing to unpack {archive.name}: member {member.name!r} appears twice")
        seen.add(relative)
        if member.packed is not None and _too_compressed(member.size, member.packed, max_ratio):
            raise UnsafeArchive(
                f"refusing to unpack {archive.name}: member {member.name!r} is compressed "
                f"{member.size / max(member.packed, 1):.0f}:1 (limit {max_ratio:g}:1, archive bomb?)"
            )
        total += member.size
    if all(m.packed is None for m in planned) and _too_compressed(total, archive.stat().st_size, max_ratio):
        raise UnsafeArchive(
            f"refusing to unpack {archive.name}: it expands {total / max(archive.stat().st_size, 1):.0f} times "
            f"(limit {max_ratio:g}:1, archive bomb?)"
        )
    if total > max_bytes:
        raise UnsafeArchive(
            f"refusing to unpack {archive.name}: it expands to {total} bytes (limit {max_bytes}, archive bomb?)"
        )
    return planned


def _copy_limited(source: IO[bytes], target: Path, budget: int, archive: Path, name: str) -> int:
    written = 0
    with target.open("xb") as out:
        while chunk := source.read(_CHUNK):
            written += len(chunk)
            if written > budget:
                raise UnsafeArchive(f"refusing to unpack {archive.name}: member {name!r} expands beyond the limit")
            out.write(chunk)
    return written


def _check_space(destination: Path, needed: int) -> None:
    probe = destination
    while not probe.exists():
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if needed > free:
        raise TemporaryError(f"not enough disk space to unpack: {needed} bytes needed, {free} free")


def unpack_archive(
    archive: Path,
    destination: Path,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_members: int = DEFAULT_MAX_MEMBERS,
    max_ratio: float = DEFAULT_MAX_RATIO,
) -> Path:
    """Unpack `archive` into `destination` (created if missing; it must be empty).

    Raises UnsafeArchive for escapes, absolute paths, links, special files and bombs (more
    than `max_bytes` in all, or a member compressed more than `max_ratio`:1),
    RetriableError for a corrupt archive. Nothing is left in `destination` on error.
    """
    archive = Path(archive)
    destination = Path(destination)
    if destination.exists() and any(destination.iterdir()):
        raise InvalidInput(f"cannot unpack {archive.name} into {destination}: the folder is not empty")
    destination.mkdir(parents=True, exist_ok=True)
    root = destination.resolve()
    try:
        if zipfile.is_zipfile(archive):
            _unpack_zip(archive, root, max_bytes, max_members, max_ratio)
        elif tarfile.is_tarfile(archive):
            _unpack_tar(archive, root, max_bytes, max_members, max_ratio)
        else:
            raise RetriableError(f"{archive.name} is neither a zip nor a tar archive")
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, zipfile.LargeZipFile) as exc:
        _empty(root)
        raise RetriableError(f"corrupt archive {archive.name}: {exc}") from None
    except BaseException:
        _empty(root)
        raise
    return destination


def _target(root: Path, relative: PurePosixPath) -> Path:
    target = root.joinpath(*relative.parts)
    # Belt and braces: the checked name must still resolve inside the root (no symlink planted before).
    if not target.parent.resolve().is_relative_to(root):
        raise UnsafeArchive(f"refusing to unpack: {relative} resolves outside the destination")
    return target


def _unpack_zip(archive: Path, root: Path, max_bytes: int, max_members: int, max_ratio: float) -> None:
    with zipfile.ZipFile(archive) as zf:
        planned = _plan(_zip_members(zf, archive), archive, max_bytes, max_members, max_ratio)
        _unpack(planned, zf.infolist(), zf.open, archive, root, max_bytes)


def _unpack_tar(archive: Path, root: Path, max_bytes: int, max_members: int, max_ratio: float) -> None:
    with tarfile.open(archive) as tf:
        planned = _plan(_tar_members(tf, archive), archive, max_bytes, max_members, max_ratio)
        _unpack(planned, tf.getmembers(), tf.extractfile, archive, root, max_bytes)


def _unpack(
    planned: list[_Member],
    infos: Sequence[_Info],
    open_member: Callable[[_Info], IO[bytes] | None],
    archive: Path,
    root: Path,
    max_bytes: int,
) -> None:
    """Write the checked members, counting the bytes really written against the budget."""
    _check_space(root, sum(m.size for m in planned))
    budget = max_bytes
    for member, info in zip(planned, infos, strict=True):
        relative = _safe_relative(member.name, archive)
        if member.is_dir:
            _target(root, relative).mkdir(parents=True, exist_ok=True)
            continue
        root.joinpath(*relative.parts[:-1]).mkdir(parents=True, exist_ok=True)
        target = _target(root, relative)
        source = open_member(info)
        if source is None:
            raise UnsafeArchive(f"refusing to unpack {archive.name}: member {member.name!r} has no content")
        with source:
            budget -= _copy_limited(source, target, min(budget, member.size), archive, member.name)


def _empty(root: Path) -> None:
    for child in root.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)
