"""Servers on 127.0.0.1 that never finish answering: the faults every outbound call must survive.

- `silent`: accepts connections, reads the request, and never answers;
- `stall`: answers the status line and headers (a JSON or zip body announced), sends a few
  bytes of the body, then nothing more;
- `unconnectable`: a listening socket whose accept queue is kept full, so a new connection
  is never established (the client's connect timeout is what ends it).
Each holds its connections until `stop`, so the client, not the server, has to give up.
"""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Literal

Mode = Literal["silent", "stall", "unconnectable"]

SIZE = 100_000  # what a stalling server announces


class SilentServer:
    def __init__(self, mode: Mode = "silent"):
        self.mode = mode
        self.connections = 0
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> SilentServer:
        if self.mode == "unconnectable":
            self._listener.listen(0)
            for _ in range(3):  # fill the accept queue; later SYNs are dropped
                filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                filler.setblocking(False)
                with suppress(BlockingIOError):
                    filler.connect(("127.0.0.1", self.port))
                self._held.append(filler)
            return self
        self._listener.listen(16)
        self._listener.settimeout(0.05)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        return self

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            self._held.append(connection)
            threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    def _answer(self, connection: socket.socket) -> None:
        connection.settimeout(5)
        try:
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = connection.recv(65536)
                if not chunk:
                    return
                request += chunk
            if self.mode == "stall":
                connection.sendall(_stall_answer(request))
        except OSError:
            return

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)
        for held in self._held:
            held.close()
        self._listener.close()


def _stall_answer(request: bytes) -> bytes:
    """Headers (206 for a range), then the first bytes of the body: the rest never comes."""
    head = request.split(b"\r\n\r\n", 1)[0].decode("latin-1").lower()
    wanted = re.search(r"^range: bytes=(\d+)-(\d*)", head, re.MULTILINE)
    if wanted:
        start = int(wanted[1])
        end = min(int(wanted[2]) if wanted[2] else SIZE - 1, SIZE - 1)
        status = f"206 Partial Content\r\nContent-Range: bytes {start}-{end}/{SIZE}"
        length = end - start + 1
    else:
        status, length = "200 OK", SIZE
    headers = f"HTTP/1.1 {status}\r\nContent-Length: {length}\r\nAccept-Ranges: bytes\r\n"
    headers += "Content-Type: application/json\r\n\r\n"
    body = b"" if head.startswith("head ") else b'{"type": "Feat'
    return headers.encode() + body


@contextmanager
def silent_server(mode: Mode = "silent") -> Iterator[SilentServer]:
    server = SilentServer(mode).start()
    try:
        yield server
    finally:
        server.stop()
