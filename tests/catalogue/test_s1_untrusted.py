"""Annotation sources are input: checked before they are opened, read within caps, and their errors
say "not allowed", "not found" or "could not be read" without what the server met there."""

from __future__ import annotations

import socket
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from geocube_ingest.catalogue.s1.annotation import parse_annotation
from geocube_ingest.catalogue.s1.sources import read_source
from geocube_ingest.errors import InvalidInput, NotFound, TemporaryError
from geocube_ingest.settings import Settings

NAME = "S1A_IW_SLC__1SDV_20200511T135117_20200511T135144_032518_03C421_7768"
ANNOTATION = f"{NAME}.SAFE/annotation/s1a-iw1-slc-vv-20200511t135119-20200511t135144-032518-03c421-004.xml"


@pytest.fixture
def annotation(s1_safe_dir: Path) -> bytes:
    return (s1_safe_dir / ANNOTATION).read_bytes()


def settings_for(*file_roots: Path, **security: object) -> Settings:
    return Settings(security={"file_roots": [str(r) for r in file_roots], **security})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("element", "value", "reason"),
    [
        ("linesPerBurst", "abc", "swathTiming/linesPerBurst is not an integer"),
        ("linesPerBurst", "9" * 5000, "swathTiming/linesPerBurst is not an integer"),
        ("linesPerBurst", "0", "lines must be positive"),
        ("absoluteOrbitNumber", "-3", "orbit must be positive"),
        ("burstList/azimuthAnxTime", "inf", "azimuthAnxTime is not a number"),
        ("burstList/azimuthTime", "yesterday", "azimuthTime is not a date-time"),
        ("geolocationGrid/latitude", "1e999", "latitude is not a number"),
        ("numberOfLines", "12.5", "numberOfLines is not an integer"),
    ],
)
def test_bad_values_in_an_annotation_are_invalid_input(
    annotation: bytes, element: str, value: str, reason: str
) -> None:
    text = annotation.decode()
    anchor, _, element = element.rpartition("/")
    start = text.index(f"<{element}", text.index(f"<{anchor}") if anchor else 0)
    start = text.index(">", start) + 1
    end = text.index(f"</{element}>", start)
    broken = (text[:start] + value + text[end:]).encode()
    with pytest.raises(InvalidInput, match=reason):
        parse_annotation(broken, "a.xml")


def test_the_root_tag_of_another_file_is_not_repeated() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_annotation(b"<secretRootTag><password>hunter2</password></secretRootTag>", "x.xml")
    assert "secretRootTag" not in str(caught.value) and "hunter2" not in str(caught.value)


def test_sources_outside_the_file_roots_are_not_opened(tmp_path: Path) -> None:
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    secret = tmp_path / "secret.xml"
    secret.write_text("<secretRootTag/>")
    settings = settings_for(allowed)
    answers = []
    for where in (secret, tmp_path / "missing.xml", tmp_path / "missing-dir"):
        with pytest.raises(InvalidInput, match="not allowed") as caught:
            read_source(str(where), settings=settings)
        answers.append(str(caught.value).replace(str(where), "<path>"))
    assert len(set(answers)) == 1  # existing or not, a file or a folder: the same answer
    with pytest.raises(NotFound):
        read_source(str(allowed / "missing.xml"), settings=settings)
    (allowed / "link.xml").symlink_to(secret)
    with pytest.raises(InvalidInput, match="not allowed"):
        read_source(str(allowed / "link.xml"), settings=settings)


def test_a_safe_folder_with_a_link_out_is_not_read(tmp_path: Path, s1_safe_dir: Path) -> None:
    safe = tmp_path / "allowed" / f"{NAME}.SAFE"
    (safe / "annotation").mkdir(parents=True)
    secret = tmp_path / "secret.xml"
    secret.write_text("<secretRootTag/>")
    (safe / "annotation" / Path(ANNOTATION).name).symlink_to(secret)
    with pytest.raises(InvalidInput, match="not allowed"):
        read_source(str(safe), settings=settings_for(tmp_path / "allowed"))


def test_big_files_and_bombs_are_refused_within_the_caps(tmp_path: Path, annotation: bytes) -> None:
    big = tmp_path / "big.xml"
    big.write_bytes(annotation + b"<!--" + b"x" * 200_000 + b"-->")
    settings = settings_for(tmp_path, max_annotation_bytes=100_000)
    with pytest.raises(InvalidInput, match="larger than 100000 bytes"):
        read_source(str(big), settings=settings)
    bomb = tmp_path / f"{NAME}.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(ANNOTATION, b"\0" * 20_000_000)
    with pytest.raises(InvalidInput, match="archive bomb"):
        read_source(str(bomb), settings=settings_for(tmp_path))
    with pytest.raises(InvalidInput, match=r"is 2\d{7} bytes \(limit 100000\)"):
        read_source(str(bomb), settings=settings_for(tmp_path, max_annotation_bytes=100_000, max_compression_ratio=1e6))


@pytest.fixture
def not_http() -> Iterator[int]:
    """A port that accepts connections and answers something that is not HTTP (a database, SSH...)."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def answer() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            with connection:
                connection.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    server.close()


def test_a_closed_port_and_a_service_that_is_not_http_look_the_same(not_http: int) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    answers = []
    for port in (closed, not_http):
        url = f"http://127.0.0.1:{port}/{NAME}.zip"
        with pytest.raises(TemporaryError) as caught:
            read_source(url, settings=Settings())
        answers.append(str(caught.value).replace(str(port), "<port>"))
    expected = f"http://127.0.0.1:<port>/{NAME}.zip: could not be read (unreachable or not answering)"
    assert answers[0] == answers[1] == expected
