"""Who may call the API and how much they may send.

- Bearer token: when `settings.api.token` is set, every API route requires
  `Authorization: Bearer <token>`, compared in constant time. The health check `/`, the
  static web page `/ui` and the docs page `/docs` stay open (a browser cannot send a header when it opens a page;
  the page asks for the token and sends it with every API call).
- CORS: only the origins listed in `settings.api.cors_origins`.
- Body size: larger requests are refused with 413 before the body is read, and chunked
  bodies are cut off once they pass the limit.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Sequence
from typing import Any

from fastapi import Depends, FastAPI, HTTPException
from fastapi.middleware.cors import CORSMiddleware
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from geocube_ingest.api.middleware import HttpMiddleware, TrackedSend

BEARER = HTTPBearer(auto_error=False, description="The token configured in settings.api.token.")


def token_matches(given: str, expected: SecretStr) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), expected.get_secret_value().encode("utf-8"))


def require_token(token: SecretStr) -> Any:
    """A dependency that refuses requests without the right bearer token."""

    def check(credentials: HTTPAuthorizationCredentials | None = Depends(BEARER)) -> None:
        if credentials is None or not token_matches(credentials.credentials, token):
            raise HTTPException(
                status_code=401,
                detail="missing or wrong bearer token (send 'Authorization: Bearer <token>')",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return Depends(check)


class BodySizeLimit(HttpMiddleware):
    """Refuse request bodies larger than `max_bytes` with HTTP 413."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        super().__init__(app)
        self.max_bytes = max_bytes

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(send)
            return
        received = 0
        tracked = TrackedSend(send)

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # FastAPI re-raises its own HTTPException from body parsing: the client gets 413.
                    raise HTTPException(status_code=413, detail=self._detail())
            return message

        try:
            await self.app(scope, limited_receive, tracked)
        except HTTPException as exc:
            if exc.status_code != 413 or tracked.started:
                raise
            await self._refuse(send)

    def _detail(self) -> str:
        return f"request body larger than {self.max_bytes} bytes (settings api.max_upload_bytes)"

    async def _refuse(self, send: Send) -> None:
        body = json.dumps({"detail": self._detail()}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class SecurityHeaders(HttpMiddleware):
    """Content policies: the pages (`/ui`, `/docs`) load only their own files (no CDN, no inline script),
    plus the operator's basemap tiles when one is set; API answers load nothing."""

    CSP = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:{images}; "
        "connect-src 'self'; font-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'"
    )

    API_CSP = "default-src 'none'; frame-ancestors 'none'"
    PAGES = ("/ui", "/docs")

    def __init__(self, app: ASGIApp, image_sources: Sequence[str] = ()):
        super().__init__(app)
        self.page_policy = self.CSP.format(images="".join(f" {source}" for source in image_sources))

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        is_page = scope.get("path", "").startswith(self.PAGES)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-content-type-options", b"nosniff"))
                # API answers (JSON, text, SVG) never need to run or load anything.
                policy = self.page_policy if is_page else self.API_CSP
                headers.append((b"content-security-policy", policy.encode()))
                headers.append((b"referrer-policy", b"no-referrer"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


def install(app: FastAPI, *, cors_origins: list[str], max_upload_bytes: int, image_sources: Sequence[str] = ()) -> None:
    app.add_middleware(SecurityHeaders, image_sources=image_sources)
    app.add_middleware(BodySizeLimit, max_bytes=max_upload_bytes)
    if cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=cors_origins,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )
