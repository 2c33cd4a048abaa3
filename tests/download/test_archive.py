"""Archives from providers are not trusted: escapes, absolute paths, links and bombs are refused."""

from __future__ import annotations

import io
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from geocube_ingest.download.archive import UnsafeArchive, is_archive, read_member, unpack_archive
from geocube_ingest.errors import FatalError, InvalidInput, RetriableError


def make_zip(path: Path, members: list[tuple[str, bytes]], *, symlink: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members:
            zf.writestr(name, data)
        if symlink is not None:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, "/etc/passwd")
    return path


def make_tar(path: Path, add: list[tarfile.TarInfo | tuple[str, bytes]]) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for item in add:
            if isinstance(item, tarfile.TarInfo):
                tf.addfile(item)
            else:
                info = tarfile.TarInfo(item[0])
                info.size = len(item[1])
                tf.addfile(info, io.BytesIO(item[1]))
    return path


def test_a_good_zip_is_unpacked(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "p.zip", [("X.SAFE/manifest.safe", b"m"), ("X.SAFE/GRANULE/a/b.jp2", b"b" * 1000)])
    assert is_archive(archive)
    out = unpack_archive(archive, tmp_path / "out")
    assert (out / "X.SAFE" / "manifest.safe").read_bytes() == b"m"
    assert (out / "X.SAFE" / "GRANULE" / "a" / "b.jp2").read_bytes() == b"b" * 1000


def test_zip_member_escaping_the_destination_is_refused(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "evil.zip", [("X.SAFE/ok.xml", b"ok"), ("../../evil", b"pwned")])
    out = tmp_path / "work" / "out"
    with pytest.raises(UnsafeArchive, match=r"\.\./\.\./evil.*escapes"):
        unpack_archive(archive, out)
    assert not (tmp_path / "evil").exists()
    assert not (tmp_path / "work" / "evil").exists()
    assert list(out.iterdir()) == []  # refused as a whole: not even the good member


def test_zip_member_with_an_absolute_path_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "absolute-target"
    archive = make_zip(tmp_path / "abs.zip", [(str(target), b"pwned")])
    # zipfile.writestr keeps the leading "/" in the stored name.
    assert zipfile.ZipFile(archive).namelist()[0].startswith("/")
    with pytest.raises(UnsafeArchive, match="absolute path"):
        unpack_archive(archive, tmp_path / "out")
    assert not target.exists()


def test_zip_symlink_member_is_refused(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "link.zip", [("X.SAFE/a", b"a")], symlink="X.SAFE/passwd")
    with pytest.raises(UnsafeArchive, match="symbolic link"):
        unpack_archive(archive, tmp_path / "out")
    assert not (tmp_path / "out" / "X.SAFE").exists()


def test_zip_bomb_is_refused_before_writing(tmp_path: Path) -> None:
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros", b"\0" * 5_000_000)
    assert archive.stat().st_size < 20_000
    with pytest.raises(UnsafeArchive, match="archive bomb"):
        unpack_archive(archive, tmp_path / "out", max_bytes=1_000_000)
    assert list((tmp_path / "out").iterdir()) == []


def lying_zip(archive: Path, name: str, size: int, claimed: int) -> Path:
    """A zip of one stored member of `size` bytes whose central directory claims `claimed`."""
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(name, b"x" * size)
    raw = bytearray(archive.read_bytes())
    central = raw.rfind(b"PK\x01\x02")
    raw[central + 24 : central + 28] = claimed.to_bytes(4, "little")  # uncompressed size in the central directory
    archive.write_bytes(bytes(raw))
    return archive


def test_a_lying_size_header_is_caught_while_unpacking(tmp_path: Path) -> None:
    """The central directory says 10 bytes; the data holds a million: never more than announced is written."""
    archive = lying_zip(tmp_path / "liar.zip", "big", 1_000_000, 10)
    with pytest.raises((UnsafeArchive, RetriableError)):
        unpack_archive(archive, tmp_path / "out", max_bytes=100)
    assert list((tmp_path / "out").iterdir()) == []


def test_too_many_members_is_refused(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "many.zip", [(f"f{i}", b"") for i in range(20)])
    with pytest.raises(UnsafeArchive, match="members"):
        unpack_archive(archive, tmp_path / "out", max_members=10)


def test_tar_escapes_links_and_devices_are_refused(tmp_path: Path) -> None:
    escape = make_tar(tmp_path / "escape.tar.gz", [("../evil", b"x")])
    with pytest.raises(UnsafeArchive, match="escapes"):
        unpack_archive(escape, tmp_path / "o1")
    absolute = make_tar(tmp_path / "abs.tar.gz", [("/tmp/evil", b"x")])
    with pytest.raises(UnsafeArchive, match="absolute"):
        unpack_archive(absolute, tmp_path / "o2")
    link = tarfile.TarInfo("X.SAFE/link")
    link.type = tarfile.SYMTYPE
    link.linkname = "/etc/passwd"
    with pytest.raises(UnsafeArchive, match="link"):
        unpack_archive(make_tar(tmp_path / "sym.tar.gz", [link]), tmp_path / "o3")
    hard = tarfile.TarInfo("X.SAFE/hard")
    hard.type = tarfile.LNKTYPE
    hard.linkname = "X.SAFE/a"
    with pytest.raises(UnsafeArchive, match="link"):
        unpack_archive(make_tar(tmp_path / "hard.tar.gz", [("X.SAFE/a", b"a"), hard]), tmp_path / "o4")
    fifo = tarfile.TarInfo("X.SAFE/fifo")
    fifo.type = tarfile.FIFOTYPE
    with pytest.raises(UnsafeArchive, match="not a regular file"):
        unpack_archive(make_tar(tmp_path / "fifo.tar.gz", [fifo]), tmp_path / "o5")
    assert not (tmp_path / "evil").exists()


def test_a_good_tar_is_unpacked(tmp_path: Path) -> None:
    archive = make_tar(tmp_path / "landsat.tar.gz", [("LC08_B4.TIF", b"4" * 100), ("LC08_MTL.txt", b"mtl")])
    out = unpack_archive(archive, tmp_path / "out")
    assert sorted(p.name for p in out.iterdir()) == ["LC08_B4.TIF", "LC08_MTL.txt"]


def test_unsafe_archives_are_fatal_corrupt_ones_retriable(tmp_path: Path) -> None:
    assert issubclass(UnsafeArchive, FatalError)
    broken = tmp_path / "broken.zip"
    good = make_zip(tmp_path / "good.zip", [("a", b"a" * 10_000)])
    broken.write_bytes(good.read_bytes()[:-30])  # central directory cut
    assert not is_archive(tmp_path / "missing.zip")
    with pytest.raises(RetriableError):
        unpack_archive(broken, tmp_path / "out")
    not_an_archive = tmp_path / "x.zip"
    not_an_archive.write_bytes(b"<html>login</html>")
    with pytest.raises(RetriableError, match="neither a zip nor a tar"):
        unpack_archive(not_an_archive, tmp_path / "out2")


def test_unpacking_into_a_non_empty_folder_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "precious").write_text("keep me")
    with pytest.raises(InvalidInput, match="not empty"):
        unpack_archive(make_zip(tmp_path / "a.zip", [("a", b"a")]), out)
    assert (out / "precious").read_text() == "keep me"


# -- compression ratio and reads into memory -----------------------------------------------------


def test_a_member_compressed_beyond_the_ratio_is_refused_before_writing(tmp_path: Path) -> None:
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("X.SAFE/ok.xml", b"<a/>" * 1000)  # very compressible, but small: never judged
        zf.writestr("X.SAFE/zeros.tiff", b"\0" * 20_000_000)
    with pytest.raises(UnsafeArchive, match=r"zeros.tiff' is compressed \d+:1 \(limit 100:1, archive bomb\?\)"):
        unpack_archive(archive, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []
    out = unpack_archive(archive, tmp_path / "out2", max_ratio=1e6)  # an operator who allows it
    assert (out / "X.SAFE" / "zeros.tiff").stat().st_size == 20_000_000


def test_a_compressed_tar_beyond_the_ratio_is_refused(tmp_path: Path) -> None:
    archive = make_tar(tmp_path / "bomb.tar.gz", [("zeros", b"\0" * 20_000_000)])
    with pytest.raises(UnsafeArchive, match=r"expands \d+ times"):
        unpack_archive(archive, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


def test_bzip2_and_lzma_members_are_not_unpacked(tmp_path: Path) -> None:
    archive = tmp_path / "bz.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_BZIP2) as zf:
        zf.writestr("X.SAFE/a", b"a")
    with pytest.raises(UnsafeArchive, match="compression method 12"):
        unpack_archive(archive, tmp_path / "out")
    with zipfile.ZipFile(archive) as zf, pytest.raises(UnsafeArchive, match="compression method"):
        read_member(zf, "X.SAFE/a", max_bytes=1000)


def test_read_member_is_capped_in_size_and_ratio(tmp_path: Path) -> None:
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("small.xml", b"<product/>")
        zf.writestr("big.xml", bytes(range(256)) * 8000)
        zf.writestr("zeros.xml", b"\0" * 5_000_000)
    with zipfile.ZipFile(archive) as zf:
        assert read_member(zf, "small.xml", max_bytes=1000) == b"<product/>"
        with pytest.raises(UnsafeArchive, match="2048000 bytes"):
            read_member(zf, "big.xml", max_bytes=1_000_000)
        with pytest.raises(UnsafeArchive, match="archive bomb"):
            read_member(zf, "zeros.xml", max_bytes=10_000_000)


def test_read_member_never_holds_more_than_the_cap_when_headers_lie(tmp_path: Path) -> None:
    """The central directory says 100 bytes of a member holding 2 MB: at most the cap is read."""
    archive = lying_zip(tmp_path / "liar.zip", "x.xml", 2_000_000, 100)
    with zipfile.ZipFile(archive) as zf:
        try:
            data = read_member(zf, "x.xml", max_bytes=1000)
        except (UnsafeArchive, zipfile.BadZipFile):
            return
    assert len(data) <= 1000
