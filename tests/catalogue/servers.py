"""Real HTTP servers on 127.0.0.1 for the catalogue tests, built from the recorded provider responses.

- `LocalServer`: a threaded http.server that hands each request to an app function, counts
  requests and bytes sent, and can be told to fail the next N requests (429/500...).
- `StacApi`: a small STAC API over recorded items (landing page, /collections, /search GET
  and POST with intersects/datetime/collections/ids/query/filter and `next`-token paging in
  Earth Search's style).
- `StacReplay`: replays a recorded pystac-client cassette (landing page and the /search pages
  chained by their recorded `next` tokens), hosts rewritten to the local server.
- `ODataReplay`: answers /odata/v1/Products with recorded pages chosen by `$skip`.
- `StaticFiles`: files with HTTP Range support (HEAD, 206), to measure what a client downloads.
- `ProxyApp`: forwards everything to another server (moto) and counts the bytes coming back.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import shapely
import yaml
from shapely.geometry import box, shape


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body or b"{}")

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, document: Any, status: int = 200) -> Response:
        return cls(status, json.dumps(document).encode(), {"Content-Type": "application/json"})


App = Callable[[Request], Response]


class LocalServer:
    """A real HTTP/1.1 server on 127.0.0.1:<free port>, serving `app` from a thread."""

    def __init__(self, app: App):
        self.app = app
        self.requests: list[Request] = []
        self.bytes_sent = 0
        self._failures: list[tuple[int, dict[str, str], str]] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                request = Request(
                    self.command, parts.path, parse_qs(parts.query, keep_blank_values=True), body, dict(self.headers)
                )
                response = server._dispatch(request)
                payload = b"" if self.command == "HEAD" else response.body
                self.send_response(response.status)
                headers = {"Content-Length": str(len(response.body)), **response.headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)
                with server._lock:
                    server.bytes_sent += len(payload)

            do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _handle

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> LocalServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def fail(self, status: int, times: int = 1, headers: dict[str, str] | None = None, path: str = "") -> None:
        """Answer the next `times` requests (whose path contains `path`) with `status`."""
        with self._lock:
            self._failures.extend([(status, headers or {}, path)] * times)

    def reset_counters(self) -> None:
        with self._lock:
            self.requests.clear()
            self.bytes_sent = 0

    def _dispatch(self, request: Request) -> Response:
        with self._lock:
            self.requests.append(request)
            failure = None
            if self._failures and self._failures[0][2] in request.path:
                failure = self._failures.pop(0)
        if failure:
            status, headers, _ = failure
            return Response(status, json.dumps({"code": status, "description": "injected failure"}).encode(), headers)
        try:
            return self.app(request)
        except Exception as exc:  # a bug in a test app shows up as a 500 with its message
            return Response(500, f"{type(exc).__name__}: {exc}".encode())


# -- STAC -------------------------------------------------------------------------------------

EARTH_SEARCH = "https://earth-search.aws.element84.com"


def load_cassette(path: Path) -> list[dict[str, Any]]:
    return yaml.safe_load(path.read_text())["interactions"]


def rewrite_hosts(text: str, hosts: list[str], base: str) -> str:
    for host in hosts:
        text = text.replace(host, base)
    return text


def _datetime_range(value: Any) -> tuple[datetime | None, datetime | None]:
    if not value:
        return None, None
    if isinstance(value, list):
        value = "/".join(str(v) if v else ".." for v in value)
    start, _, end = str(value).partition("/")
    parse = _parse_time
    return (parse(start) if start and start != ".." else None), (parse(end) if end and end != ".." else None)


def _parse_time(text: str) -> datetime:
    text = re.sub(r"(\.\d{6})\d+", r"\1", text.replace("Z", "+00:00"))
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b,
    "=": lambda a, b: a == b,
    "neq": lambda a, b: a != b,
    "<>": lambda a, b: a != b,
    "lt": lambda a, b: a is not None and a < b,
    "<": lambda a, b: a is not None and a < b,
    "lte": lambda a, b: a is not None and a <= b,
    "<=": lambda a, b: a is not None and a <= b,
    "gt": lambda a, b: a is not None and a > b,
    ">": lambda a, b: a is not None and a > b,
    "gte": lambda a, b: a is not None and a >= b,
    ">=": lambda a, b: a is not None and a >= b,
    "in": lambda a, b: a in b,
}


def _cql2(expression: dict[str, Any], props: dict[str, Any]) -> bool:
    op = expression["op"].lower()
    args = expression["args"]
    if op == "and":
        return all(_cql2(a, props) for a in args)
    if op == "or":
        return any(_cql2(a, props) for a in args)
    if op == "not":
        return not _cql2(args[0], props)
    prop, value = args
    return _COMPARE[op](props.get(prop["property"]), value)


class StacApi:
    """A STAC API over a fixed list of items (the recorded ones), paging like Earth Search."""

    def __init__(
        self,
        items: list[dict[str, Any]],
        landing: dict[str, Any] | None = None,
        conformance: tuple[str, ...] = (),
        root: str = "/v1",
    ):
        self.items = items
        self.recorded_landing = landing
        self.extra_conformance = conformance
        self.root = root
        self.server: LocalServer | None = None

    @property
    def base(self) -> str:
        assert self.server is not None
        return self.server.url + self.root

    def landing(self) -> dict[str, Any]:
        if self.recorded_landing is not None:
            text = rewrite_hosts(json.dumps(self.recorded_landing), [EARTH_SEARCH + "/v1"], self.base)
            landing = json.loads(text)
        else:
            landing = {
                "type": "Catalog",
                "stac_version": "1.0.0",
                "id": "local",
                "description": "recorded items",
                "links": [
                    {"rel": "self", "href": self.base},
                    {"rel": "root", "href": self.base},
                    {"rel": "search", "type": "application/geo+json", "href": f"{self.base}/search", "method": "GET"},
                    {"rel": "search", "type": "application/geo+json", "href": f"{self.base}/search", "method": "POST"},
                    {"rel": "data", "href": f"{self.base}/collections"},
                ],
                "conformsTo": [
                    "https://api.stacspec.org/v1.0.0/core",
                    "https://api.stacspec.org/v1.0.0/item-search",
                ],
            }
        landing["conformsTo"] = [*landing["conformsTo"], *self.extra_conformance]
        return landing

    def __call__(self, request: Request) -> Response:
        path = request.path.removeprefix(self.root).rstrip("/")
        if path in ("", "/") and request.method == "GET":
            return Response.json(self.landing())
        if path == "/conformance":
            return Response.json({"conformsTo": self.landing()["conformsTo"]})
        if path == "/collections":
            ids = sorted({i.get("collection") for i in self.items})
            return Response.json({"collections": [{"id": c, "type": "Collection", "links": []} for c in ids]})
        if path == "/search":
            body = request.json() if request.method == "POST" else self._get_params(request)
            return Response.json(self.search(body, request.method))
        return Response.json({"code": "NotFound", "description": request.path}, 404)

    @staticmethod
    def _get_params(request: Request) -> dict[str, Any]:
        body: dict[str, Any] = {}
        for name, values in request.query.items():
            value = values[0]
            if name in ("collections", "ids"):
                body[name] = value.split(",")
            elif name == "bbox":
                body[name] = [float(v) for v in value.split(",")]
            elif name in ("intersects", "query", "filter"):
                body[name] = json.loads(value)
            elif name == "limit":
                body[name] = int(value)
            else:
                body[name] = value
        return body

    def matching(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        start, end = _datetime_range(body.get("datetime"))
        area = shape(body["intersects"]) if body.get("intersects") else box(*body["bbox"]) if body.get("bbox") else None
        found = []
        for item in self.items:
            props = item["properties"]
            if body.get("collections") and item.get("collection") not in body["collections"]:
                continue
            if body.get("ids") and item["id"] not in body["ids"]:
                continue
            when = _parse_time(props.get("start_datetime") or props["datetime"])
            if (start and when < start) or (end and when > end):
                continue
            if area is not None and not shape(item["geometry"]).intersects(area):
                continue
            query = body.get("query") or {}
            if not all(_COMPARE[op](props.get(p), v) for p, ops in query.items() for op, v in ops.items()):
                continue
            if body.get("filter") and not _cql2(body["filter"], props):
                continue
            found.append(item)
        return sorted(found, key=lambda i: (i["properties"]["datetime"], i["id"]), reverse=True)

    def search(self, body: dict[str, Any], method: str) -> dict[str, Any]:
        found = self.matching(body)
        limit = int(body.get("limit") or 10)
        offset = int(body.get("next") or 0)
        page = found[offset : offset + limit]
        links = [{"rel": "root", "href": self.base}]
        if offset + limit < len(found):
            token = str(offset + limit)
            if method == "POST":
                links.append(
                    {
                        "rel": "next",
                        "method": "POST",
                        "href": f"{self.base}/search",
                        "merge": False,
                        "body": {**body, "next": token},
                    }
                )
            else:
                params = {k: json.dumps(v) if isinstance(v, dict) else v for k, v in body.items() if k != "next"}
                params = {k: ",".join(map(str, v)) if isinstance(v, list) else v for k, v in params.items()}
                links.append(
                    {"rel": "next", "method": "GET", "href": f"{self.base}/search?{urlencode(params)}&next={token}"}
                )
        return {
            "type": "FeatureCollection",
            "features": page,
            "links": links,
            "numberMatched": len(found),
            "numberReturned": len(page),
            "context": {"limit": limit, "matched": len(found), "returned": len(page)},
        }


class StacReplay:
    """The recorded interactions of a pystac-client cassette, chained by their `next` tokens."""

    def __init__(self, interactions: list[dict[str, Any]], host: str = EARTH_SEARCH):
        self.interactions = interactions
        self.host = host
        self.server: LocalServer | None = None

    def _body(self, interaction: dict[str, Any]) -> bytes:
        assert self.server is not None
        return rewrite_hosts(interaction["response"]["body"]["string"], [self.host], self.server.url).encode()

    def __call__(self, request: Request) -> Response:
        for interaction in self.interactions:
            recorded = interaction["request"]
            if recorded["method"] != request.method or urlsplit(recorded["uri"]).path.rstrip(
                "/"
            ) != request.path.rstrip("/"):
                continue
            if request.method == "POST":
                token = json.loads(recorded["body"] or "{}").get("next")
                if token != request.json().get("next"):
                    continue
            return Response(200, self._body(interaction), {"Content-Type": "application/json"})
        return Response.json({"code": "NotFound", "description": "not recorded"}, 404)


# -- OData ----------------------------------------------------------------------------------------

ODATA_HOSTS = ["https://catalogue.dataspace.copernicus.eu", "https://datahub.creodias.eu"]


class ODataReplay:
    """Recorded Products pages served by `$skip` (the first page for anything not recorded)."""

    def __init__(self, pages: dict[int, dict[str, Any]]):
        self.pages = pages
        self.server: LocalServer | None = None

    def __call__(self, request: Request) -> Response:
        assert self.server is not None
        if request.path != "/odata/v1/Products":
            return Response.json({"detail": "not found"}, 404)
        skip = int(request.param("$skip") or 0)
        page = self.pages.get(skip)
        if page is None:
            return Response.json({"@odata.context": "$metadata#Products", "value": []})
        return Response(200, rewrite_hosts(json.dumps(page), ODATA_HOSTS, self.server.url).encode())


# -- files with ranges, and a counting proxy ---------------------------------------------------------


class StaticFiles:
    """GET/HEAD files under `root`, honouring `Range: bytes=a-b` with 206 answers."""

    def __init__(self, root: Path):
        self.root = root

    def __call__(self, request: Request) -> Response:
        target = (self.root / request.path.lstrip("/")).resolve()
        if not target.is_relative_to(self.root.resolve()) or not target.is_file():
            return Response(404, b"not found")
        size = target.stat().st_size
        headers = {"Accept-Ranges": "bytes", "Content-Type": "application/octet-stream"}
        spec = request.headers.get("Range") or request.headers.get("range")
        if request.method == "HEAD" or not spec:
            data = b"" if request.method == "HEAD" else target.read_bytes()
            response = Response(200, data, headers)
            if request.method == "HEAD":
                response.headers["Content-Length"] = str(size)
            return response
        match = re.fullmatch(r"bytes=(\d*)-(\d*)", spec.strip())
        if not match:
            return Response(416, b"bad range")
        first, last = match.groups()
        start = int(first) if first else max(0, size - int(last))
        end = min(int(last), size - 1) if first and last else size - 1
        with target.open("rb") as handle:
            handle.seek(start)
            data = handle.read(end - start + 1)
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        return Response(206, data, headers)


class ProxyApp:
    """Forwards requests to `target` (e.g. a moto server) unchanged; the LocalServer counts the bytes."""

    SKIP = frozenset({"host", "content-length", "connection", "transfer-encoding", "keep-alive", "accept-encoding"})

    def __init__(self, target: str):
        self.target = target.rstrip("/")
        self.client = httpx.Client(timeout=60)

    def __call__(self, request: Request) -> Response:
        query = urlencode([(k, v) for k, vs in request.query.items() for v in vs])
        url = self.target + request.path + (f"?{query}" if query else "")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in self.SKIP}
        headers["Accept-Encoding"] = "identity"
        answer = self.client.request(request.method, url, headers=headers, content=request.body)
        keep = {k: v for k, v in answer.headers.items() if k.lower() not in self.SKIP | {"content-encoding"}}
        if request.method == "HEAD":
            keep["Content-Length"] = answer.headers.get("content-length", "0")
        return Response(answer.status_code, answer.content, keep)


def geometry_of(wkt: str) -> dict[str, Any]:
    return dict(shapely.geometry.mapping(shapely.from_wkt(wkt)))
