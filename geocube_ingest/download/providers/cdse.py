"""Copernicus Data Space Ecosystem: OData `Products(<uuid>)/$value` with an OIDC bearer token.

1. `GET <url>/Products(<uuid>)` (no token needed): 404 → not found; `Online: false` →
   temporary (the product is being restored); `ContentLength` and the MD5 `Checksum`
   are kept to verify the file. Without a uuid, the product is looked up by name.
2. A token from `token_url` (password grant, client `cdse-public`), cached per account
   until it expires (refresh grant first when a refresh token is still valid), and
   fetched again once when the download answers 401.
3. `GET <download_url>/Products(<uuid>)/$value`, streamed, verified, renamed.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geocube_ingest.download.http import HttpClient
from geocube_ingest.download.providers.base import ProductNotFound, ProductRequest, Progress, Provider
from geocube_ingest.download.redact import Redactor
from geocube_ingest.errors import FatalError, InvalidInput, TemporaryError
from geocube_ingest.settings import DownloadProviderSettings, Settings

log = logging.getLogger(__name__)

CATALOGUE_URL = "https://catalogue.dataspace.copernicus.eu/odata/v1"
DOWNLOAD_URL = "https://download.dataspace.copernicus.eu/odata/v1"
TOKEN_URL = "https://identity.dataspace.copernicus.eu/auth/realms/CDSE/protocol/openid-connect/token"
CLIENT_ID = "cdse-public"
AUTH_DOMAINS = ("dataspace.copernicus.eu",)
# A token is renewed this long before the identity server says it expires.
EXPIRY_MARGIN_SECONDS = 30.0


@dataclass(slots=True)
class _Token:
    access: str
    expires_at: float
    refresh: str | None
    refresh_expires_at: float

    def __repr__(self) -> str:
        return f"_Token(expires_at={self.expires_at:.0f})"


def _margin(lifetime: float) -> float:
    return min(EXPIRY_MARGIN_SECONDS, lifetime / 10)


class TokenCache:
    """OIDC tokens per account, shared by every job of the process (thread-safe).

    Counts of grants are kept so tests and operators can see the cache at work.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[str, _Token] = {}
        self.grants: dict[str, int] = {"password": 0, "refresh_token": 0}

    @staticmethod
    def key(token_url: str, client_id: str, username: str, password: str) -> str:
        # The password is part of the key (hashed) so that changed credentials never reuse a token.
        digest = hashlib.sha256(f"{token_url}\0{client_id}\0{username}\0{password}".encode()).hexdigest()
        return digest

    def get(self, key: str, obtain: Any) -> str:
        """A valid access token: the cached one, a refreshed one, or a new one from `obtain(grant, refresh)`."""
        with self._lock:
            now = time.monotonic()
            token = self._tokens.get(key)
            if token is not None and now < token.expires_at:
                return token.access
            fresh: _Token | None = None
            if token is not None and token.refresh and now < token.refresh_expires_at:
                fresh = obtain("refresh_token", token.refresh)
                if fresh is not None:
                    self.grants["refresh_token"] += 1
            if fresh is None:
                fresh = obtain("password", None)
                self.grants["password"] += 1
            assert fresh is not None
            self._tokens[key] = fresh
            return fresh.access

    def invalidate(self, key: str, access: str | None = None) -> None:
        """Forget the token (only if it is still `access`: another thread may have renewed it)."""
        with self._lock:
            token = self._tokens.get(key)
            if token is not None and (access is None or token.access == access):
                del self._tokens[key]

    def clear(self) -> None:
        with self._lock:
            self._tokens.clear()
            self.grants = {"password": 0, "refresh_token": 0}


TOKENS = TokenCache()


class OidcPasswordCredentials:
    """Bearer tokens from an OIDC token endpoint with the password grant (as `Credentials`)."""

    def __init__(
        self,
        http: HttpClient,
        token_url: str,
        client_id: str,
        username: str,
        password: str,
        redactor: Redactor,
        cache: TokenCache = TOKENS,
    ):
        self._http = http
        self._token_url = token_url
        self._client_id = client_id
        self._username = username
        self._password = password
        self._redactor = redactor
        self._cache = cache
        self._key = cache.key(token_url, client_id, username, password)
        self._last: str | None = None

    def __repr__(self) -> str:
        return f"OidcPasswordCredentials(token_url={self._token_url!r}, client_id={self._client_id!r})"

    def authorization(self) -> str | None:
        self._last = self._cache.get(self._key, self._obtain)
        return f"Bearer {self._last}"

    def refresh(self) -> bool:
        """After a 401: forget the rejected token so the next request gets a new one."""
        self._cache.invalidate(self._key, self._last)
        return True

    def _obtain(self, grant: str, refresh_token: str | None) -> _Token | None:
        form = {"client_id": self._client_id, "grant_type": grant}
        if grant == "refresh_token":
            form["refresh_token"] = refresh_token or ""
        else:
            form.update(username=self._username, password=self._password)
        started = time.monotonic()
        response = self._http.post_form(self._token_url, form, what="CDSE token request")
        try:
            body = response.json()
        except ValueError:
            body = {}
        finally:
            response.close()
        if response.status_code != 200 or not isinstance(body, dict) or not body.get("access_token"):
            if grant == "refresh_token":
                log.info("CDSE refresh grant refused (HTTP %d): asking with the password", response.status_code)
                return None
            reason = body.get("error_description") or body.get("error") if isinstance(body, dict) else None
            message = f"CDSE refused the credentials (HTTP {response.status_code}"
            message += f": {reason})" if reason else ")"
            raise FatalError(self._redactor.clean(message))
        access = str(body["access_token"])
        refresh = body.get("refresh_token")
        self._redactor.add(access)
        self._redactor.add(refresh if isinstance(refresh, str) else None)
        lifetime = float(body.get("expires_in") or 600)
        refresh_lifetime = float(body.get("refresh_expires_in") or 0)
        return _Token(
            access=access,
            expires_at=started + lifetime - _margin(lifetime),
            refresh=refresh if isinstance(refresh, str) and refresh else None,
            refresh_expires_at=started + refresh_lifetime - _margin(refresh_lifetime),
        )


@dataclass(frozen=True, slots=True)
class ProductInfo:
    uuid: str
    name: str
    size: int | None
    md5: str | None
    online: bool


def product_info(entity: dict[str, Any]) -> ProductInfo:
    """The fields of an OData Product entity needed to download and verify it."""
    md5 = None
    for checksum in entity.get("Checksum") or []:
        if isinstance(checksum, dict) and str(checksum.get("Algorithm", "")).upper() == "MD5" and checksum.get("Value"):
            md5 = str(checksum["Value"]).lower()
    size = entity.get("ContentLength")
    return ProductInfo(
        uuid=str(entity.get("Id", "")),
        name=str(entity.get("Name", "")),
        size=int(size) if isinstance(size, int) and size > 0 else None,
        md5=md5,
        online=bool(entity.get("Online", True)),
    )


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except (ValueError, TypeError):
        return False
    return True


def _odata_quote(value: str) -> str:
    return value.replace("'", "''")


class CdseProvider(Provider):
    kind = "cdse"

    def __init__(self, config: DownloadProviderSettings, settings: Settings):
        super().__init__(config, settings)
        self.catalogue_url = (config.url or CATALOGUE_URL).rstrip("/")
        self.download_url = (config.download_url or (config.url if config.url else DOWNLOAD_URL)).rstrip("/")
        domains = tuple(config.auth_domains) or AUTH_DOMAINS
        self.http = HttpClient(settings, timeout=config.timeout_seconds, redactor=self.redactor, auth_domains=domains)
        self.credentials: OidcPasswordCredentials | None = None
        if config.username and config.password is not None:
            self.credentials = OidcPasswordCredentials(
                self.http,
                config.token_url or TOKEN_URL,
                config.client_id or CLIENT_ID,
                config.username,
                config.password.get_secret_value(),
                self.redactor,
            )
        self.download_http = HttpClient(
            settings,
            timeout=config.timeout_seconds,
            credentials=self.credentials,
            auth_domains=domains,
            redactor=self.redactor,
        )

    def close(self) -> None:
        self.http.close()
        self.download_http.close()

    def fetch(self, request: ProductRequest, destination: Path, progress: Progress | None = None) -> Path:
        if self.credentials is None:
            missing = "username" if not self.config.username else self.config.missing_secret("password")
            raise InvalidInput(f"download provider {self.name!r} (cdse) needs a username and a password: {missing}")
        info = self.lookup(request)
        if not info.online:
            raise TemporaryError(f"{info.name or request.product_name} is offline at CDSE (being restored)")
        name = info.name or request.product_name
        if name.endswith(".SAFE"):
            name = name[: -len(".SAFE")]
        target = destination / f"{name}.zip"
        self.download_http.download(
            f"{self.download_url}/Products({info.uuid})/$value",
            target,
            what=f"CDSE download of {name}",
            expected_size=info.size,
            md5=info.md5,
            progress=progress,
            reject_html=True,
        )
        return target

    def lookup(self, request: ProductRequest) -> ProductInfo:
        """The product by its uuid, else by its name (the uuid may come from another catalogue)."""
        if _is_uuid(request.uuid):
            try:
                entity = self.http.get_json(
                    f"{self.catalogue_url}/Products({request.uuid})", what=f"CDSE product {request.product_name}"
                )
            except ProductNotFound:
                entity = None
            if isinstance(entity, dict) and entity.get("Id"):
                return product_info(entity)
        names = [f"{request.product_name}.SAFE", request.product_name]
        query = " or ".join(f"Name eq '{_odata_quote(n)}'" for n in names)
        page = self.http.get_json(
            f"{self.catalogue_url}/Products", what=f"CDSE search of {request.product_name}", params={"$filter": query}
        )
        values = page.get("value") if isinstance(page, dict) else None
        if not values:
            raise ProductNotFound(f"CDSE has no product named {request.product_name}")
        return product_info(values[0])
