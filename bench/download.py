"""Download-side throughput and memory: HTTP streaming, MD5 check, safe unpacking, zipped storage.

Prints numbers, asserts nothing. Usage: python bench/download.py [SIZE_MB]  (default 256)
The file is served by `python -m http.server` in another process, so the peak RSS printed
is the client's alone; it should stay flat whatever SIZE_MB is (streaming, no buffering).
"""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import httpx

from geocube_ingest import storage
from geocube_ingest.download.archive import unpack_archive
from geocube_ingest.download.http import HttpClient
from geocube_ingest.download.verify import md5_of
from geocube_ingest.settings import Settings


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def timed(label: str, size_bytes: int, action: object) -> None:
    start = time.perf_counter()
    action()  # type: ignore[operator]
    seconds = time.perf_counter() - start
    print(f"{label:<34} {seconds:7.2f} s  {size_bytes / seconds / 1e6:8.1f} MB/s  peak RSS {peak_rss_mb():7.1f} MB")


def main() -> None:
    size_mb = int(sys.argv[1]) if len(sys.argv) > 1 else 256
    size = size_mb * 1024 * 1024
    with tempfile.TemporaryDirectory(prefix="bench-download-") as scratch:
        root = Path(scratch)
        served = root / "served"
        product = served / "X.SAFE"
        (product / "measurement").mkdir(parents=True)
        with (product / "measurement" / "band.tiff").open("wb") as out:  # half random, half zeros
            for _ in range(size_mb // 2):
                out.write(os.urandom(1024 * 1024))
            out.write(b"\0" * (size - (size_mb // 2) * 1024 * 1024))
        archive = served / "X.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
            zf.write(product / "measurement" / "band.tiff", "X.SAFE/measurement/band.tiff")
        archive_size = archive.stat().st_size
        print(f"product {size_mb} MiB, zip {archive_size / 1e6:.1f} MB; baseline peak RSS {peak_rss_mb():.1f} MB")

        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port), "--directory", str(served)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            for _ in range(100):
                try:
                    httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
                    break
                except httpx.TransportError:
                    time.sleep(0.05)
            settings = Settings(home=root / "home")
            http = HttpClient(settings)
            target = root / "dl" / "X.zip"
            timed(
                "HTTP download (streamed)",
                archive_size,
                lambda: http.download(f"http://127.0.0.1:{port}/X.zip", target, expected_size=archive_size),
            )
            http.close()
            timed("MD5 verification", archive_size, lambda: md5_of(target))
            timed("safe unpack", size, lambda: unpack_archive(target, root / "unpacked"))
            timed(
                "put_path (zip + atomic store)",
                size,
                lambda: storage.put_path(
                    root / "unpacked" / "X.SAFE", str(root / "store" / "X.SAFE"), settings=settings
                ),
            )
            timed(
                "get_path (fetch + safe unzip)",
                size,
                lambda: storage.get_path(str(root / "store" / "X.SAFE"), root / "restored", settings=settings),
            )
        finally:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()
