"""Real HTTP servers on 127.0.0.1 for the download tests.

`FileServer` serves byte resources with ranges and ETags, and can be told to misbehave on
the next requests of a path: answer 429/500/503, drop the connection half way through
the body, send a consistent but truncated or corrupted body, stream slowly, require a
bearer token, or redirect. Every request is recorded (method, path, headers).

`CdseServer` speaks the part of the Copernicus Data Space protocol the CDSE provider
uses: the Keycloak token endpoint (password and refresh grants), OData
`Products(<uuid>)`, `Products?$filter=Name eq '...'` and `Products(<uuid>)/$value`.
Its product entities are the recorded CDSE responses in fixtures/odata/, with the
content length and MD5 replaced by those of the bytes it serves.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import sys
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, unquote, urlsplit


@dataclass
class Resource:
    body: bytes
    content_type: str = "application/zip"
    ranges: bool = True
    bearer: str | None = None  # required "Authorization: Bearer <bearer>" when set
    chunk: int = 64 * 1024
    delay: float = 0.0  # seconds between chunks (slow server)
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def etag(self) -> str:
        return '"' + hashlib.md5(self.body).hexdigest() + '"'


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes = b""


Route = Callable[["Handler", re.Match[str]], None]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _record(self, body: bytes = b"") -> None:
        self.server.owner.requests.append(
            Recorded(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        )

    def do_GET(self) -> None:
        self._record()
        self.server.owner.dispatch(self)

    def do_HEAD(self) -> None:
        self._record()
        self.server.owner.dispatch(self)

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        self._record(body)
        self.request_body = body
        self.server.owner.dispatch(self)

    # -- helpers used by routes ------------------------------------------------------

    def send_simple(self, status: int, body: bytes = b"", content_type: str = "text/plain", **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in headers.items():
            self.send_header(key.replace("_", "-"), value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, status: int, document: Any) -> None:
        self.send_simple(status, json.dumps(document).encode(), "application/json")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: BaseServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that hang up mid-response (killed, timed out) are part of the tests: no traceback."""
        error = sys.exc_info()[1]
        if not isinstance(error, ConnectionError | TimeoutError):
            super().handle_error(request, client_address)


class BaseServer:
    def __init__(self, host: str = "127.0.0.1"):
        self.requests: list[Recorded] = []
        self.routes: list[tuple[str, re.Pattern[str], Route]] = []
        self._httpd = _Server((host, 0), Handler)
        self._httpd.owner = self
        self.host = host
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def url(self, path: str = "/", host: str | None = None) -> str:
        return f"http://{host or self.host}:{self.port}{path}"

    def route(self, method: str, pattern: str, handler: Route) -> None:
        self.routes.append((method, re.compile(pattern), handler))

    def dispatch(self, handler: Handler) -> None:
        path = urlsplit(handler.path).path
        for method, pattern, route in self.routes:
            match = pattern.fullmatch(unquote(path))
            if match and (method == handler.command or (method == "GET" and handler.command == "HEAD")):
                route(handler, match)
                return
        handler.send_simple(404, b"not found")

    def paths(self, method: str = "GET") -> list[str]:
        return [r.path for r in self.requests if r.method == method]


class FileServer(BaseServer):
    """Byte resources with scripted failures."""

    def __init__(self, host: str = "127.0.0.1"):
        super().__init__(host)
        self.resources: dict[str, Resource] = {}
        self.redirects: dict[str, tuple[str, int]] = {}
        self.failures: dict[str, deque[int | str]] = defaultdict(deque)
        self.active = 0
        self.max_active = 0
        self._count = threading.Lock()
        self.route("GET", r"(?P<path>/.*)", self._serve)

    def add(self, path: str, body: bytes, **options: Any) -> str:
        self.resources[path] = Resource(body, **options)
        return self.url(path)

    def redirect(self, path: str, location: str, status: int = 302) -> str:
        self.redirects[path] = (location, status)
        return self.url(path)

    def fail(self, path: str, *actions: int | str) -> None:
        """Next requests of `path` misbehave: an HTTP status, "drop", "truncate" or "corrupt"."""
        self.failures[path].extend(actions)

    def _serve(self, handler: Handler, match: re.Match[str]) -> None:
        path = match["path"]
        if path in self.redirects:
            location, status = self.redirects[path]
            handler.send_simple(status, b"", Location=location)
            return
        resource = self.resources.get(path)
        if resource is None:
            handler.send_simple(404, b"no such file")
            return
        if resource.bearer is not None and handler.headers.get("Authorization") != f"Bearer {resource.bearer}":
            handler.send_simple(401, b"unauthorized", WWW_Authenticate="Bearer")
            return
        action = self.failures[path].popleft() if self.failures[path] else None
        if isinstance(action, int):
            handler.send_simple(action, b"try later", Retry_After="0")
            return
        body = resource.body
        if action == "truncate":
            body = body[: len(body) // 2]
        elif action == "corrupt":
            body = bytes(b ^ 0xFF for b in body[:16]) + body[16:]
        with self._count:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            stream_body(handler, resource, body, drop=action == "drop")
        finally:
            with self._count:
                self.active -= 1


def stream_body(handler: Handler, resource: Resource, body: bytes, *, drop: bool = False) -> None:
    """Send `body` (honouring Range / If-Range), slowly if asked, or drop the connection half way."""
    start = 0
    stop = len(body)
    status = 200
    range_header = handler.headers.get("Range")
    if_range = handler.headers.get("If-Range")
    if resource.ranges and range_header and (if_range is None or if_range == resource.etag):
        found = re.fullmatch(r"bytes=(\d+)-(\d*)", range_header.strip())
        if found and int(found[1]) < len(body):
            start = int(found[1])
            stop = min(int(found[2]) + 1, len(body)) if found[2] else len(body)
            status = 206
    part = body[start:stop]
    handler.send_response(status)
    handler.send_header("Content-Type", resource.content_type)
    handler.send_header("Content-Length", str(len(part)))
    handler.send_header("ETag", resource.etag)
    if resource.ranges:
        handler.send_header("Accept-Ranges", "bytes")
    if status == 206:
        handler.send_header("Content-Range", f"bytes {start}-{stop - 1}/{len(body)}")
    for key, value in resource.headers.items():
        handler.send_header(key, value)
    handler.end_headers()
    if handler.command == "HEAD":
        return
    limit = len(part) // 2 if drop else len(part)
    sent = 0
    try:
        while sent < limit:
            if resource.delay and sent:  # between chunks: a response ends with its last byte
                time.sleep(resource.delay)
            piece = part[sent : min(sent + resource.chunk, limit)]
            handler.wfile.write(piece)
            handler.wfile.flush()
            sent += len(piece)
    except (BrokenPipeError, ConnectionResetError):
        handler.close_connection = True
        return
    if drop:
        handler.close_connection = True
        handler.connection.shutdown(socket.SHUT_RDWR)


# -- Copernicus Data Space -------------------------------------------------------------


@dataclass
class Account:
    username: str
    password: str


class CdseServer(BaseServer):
    """Token endpoint + OData catalogue + `$value` downloads on one port."""

    CLIENT_ID = "cdse-public"

    def __init__(self, entities: list[dict[str, Any]], account: Account, *, expires_in: int = 600):
        super().__init__()
        self.account = account
        self.expires_in = expires_in
        self.refresh_expires_in = 3600
        self.entities: dict[str, dict[str, Any]] = {}
        self.contents: dict[str, Resource] = {}
        self.valid_tokens: set[str] = set()
        self.valid_refresh: set[str] = set()
        self.issued = 0
        self.grants: list[str] = []
        self.failures: dict[str, deque[int | str]] = defaultdict(deque)
        for entity in entities:
            self.entities[entity["Id"]] = dict(entity)
        self.route("POST", r"/auth/realms/CDSE/protocol/openid-connect/token", self._token)
        self.route("GET", r"/odata/v1/Products\((?P<uuid>[^)]+)\)/\$value", self._value)
        self.route("GET", r"/odata/v1/Products\((?P<uuid>[^)]+)\)", self._product)
        self.route("GET", r"/odata/v1/Products", self._search)

    @property
    def token_url(self) -> str:
        return self.url("/auth/realms/CDSE/protocol/openid-connect/token")

    @property
    def odata_url(self) -> str:
        return self.url("/odata/v1")

    def serve(self, uuid: str, body: bytes, *, md5: str | None = None, size: int | None = None, **options: Any) -> None:
        """Serve `body` as the product `uuid`; its entity announces `size`/`md5` (the body's by default)."""
        entity = self.entities[uuid]
        entity["ContentLength"] = len(body) if size is None else size
        checksums = [c for c in entity.get("Checksum") or [] if c.get("Algorithm") != "MD5"]
        checksums.insert(
            0,
            {
                "Value": md5 or hashlib.md5(body).hexdigest(),
                "Algorithm": "MD5",
                "ChecksumDate": "2023-08-23T09:26:29.109555Z",
            },
        )
        entity["Checksum"] = checksums
        self.contents[uuid] = Resource(body, **options)

    def revoke_tokens(self) -> None:
        """As if the identity server ended every session: access tokens answer 401 from now on."""
        self.valid_tokens.clear()

    def _token(self, handler: Handler, _match: re.Match[str]) -> None:
        form = {k: v[0] for k, v in parse_qs(handler.request_body.decode()).items()}
        grant = form.get("grant_type", "")
        self.grants.append(grant)
        if form.get("client_id") != self.CLIENT_ID:
            handler.send_json(401, {"error": "invalid_client", "error_description": "Invalid client credentials"})
            return
        if grant == "password":
            if form.get("username") != self.account.username or form.get("password") != self.account.password:
                handler.send_json(401, {"error": "invalid_grant", "error_description": "Invalid user credentials"})
                return
        elif grant == "refresh_token":
            if form.get("refresh_token") not in self.valid_refresh:
                handler.send_json(400, {"error": "invalid_grant", "error_description": "Invalid refresh token"})
                return
        else:
            handler.send_json(400, {"error": "unsupported_grant_type"})
            return
        self.issued += 1
        access = f"access-{self.issued}-{hashlib.sha1(str(time.time()).encode()).hexdigest()[:12]}"
        refresh = f"refresh-{self.issued}"
        self.valid_tokens.add(access)
        self.valid_refresh.add(refresh)
        # The shape Keycloak (CDSE's identity server) answers with.
        handler.send_json(
            200,
            {
                "access_token": access,
                "expires_in": self.expires_in,
                "refresh_expires_in": self.refresh_expires_in,
                "refresh_token": refresh,
                "token_type": "Bearer",
                "not-before-policy": 0,
                "session_state": "0b7d1f1e-8d55-4b0e-9a5c-6f2d2c1c9e11",
                "scope": "AUDIENCE_PUBLIC openid email profile ondemand_processing user-context",
            },
        )

    def _product(self, handler: Handler, match: re.Match[str]) -> None:
        entity = self.entities.get(match["uuid"])
        if entity is None:
            handler.send_json(404, {"detail": {"message": f"Product {match['uuid']} not found"}})
            return
        handler.send_json(200, {"@odata.context": "$metadata#Products/$entity", **entity})

    def _search(self, handler: Handler, _match: re.Match[str]) -> None:
        query = parse_qs(urlsplit(handler.path).query)
        wanted = re.findall(r"Name eq '((?:[^']|'')*)'", query.get("$filter", [""])[0])
        names = {w.replace("''", "'") for w in wanted}
        found = [e for e in self.entities.values() if e.get("Name") in names]
        handler.send_json(200, {"@odata.context": "$metadata#Products", "value": found})

    def _value(self, handler: Handler, match: re.Match[str]) -> None:
        uuid = match["uuid"]
        auth = handler.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth.removeprefix("Bearer ") not in self.valid_tokens:
            handler.send_json(401, {"detail": "Expired signature!"})
            return
        resource = self.contents.get(uuid)
        if resource is None:
            handler.send_json(404, {"detail": "Not found"})
            return
        action = self.failures[uuid].popleft() if self.failures[uuid] else None
        if isinstance(action, int):
            handler.send_simple(action, b"busy", Retry_After="0")
            return
        body = resource.body
        if action == "corrupt":
            body = bytes(b ^ 0xFF for b in body[:16]) + body[16:]
        stream_body(handler, resource, body, drop=action == "drop")
