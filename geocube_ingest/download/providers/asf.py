"""Alaska Satellite Facility datapool, with an Earthdata bearer token.

The product URL is `<url>/<type dir>/S<mission>/<product>.zip` (e.g. `SLC/SA/...`,
`GRD_HD/SB/...`), or the scene's `metadata.asf_url` when the catalogue gave one
(with `metadata.asf_md5` / `metadata.asf_size` to verify it). Datapool answers with
redirects through other ASF and Earthdata hosts: the Authorization header follows them
there (and nowhere else: the final signed storage URL must not get it). The token goes
with the first request, so `asf_url` (input) must be on the configured host or the
authorised domains: anywhere else would receive the operator's token.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from geocube_ingest.access import NotAllowed
from geocube_ingest.download.http import HttpClient, StaticBearer, _domain_match
from geocube_ingest.download.providers.base import ProductNotFound, ProductRequest, Progress, Provider
from geocube_ingest.errors import InvalidInput
from geocube_ingest.settings import DownloadProviderSettings, Settings

DATAPOOL_URL = "https://datapool.asf.alaska.edu"
AUTH_DOMAINS = ("asf.alaska.edu", "earthdata.nasa.gov")
# Product type (characters 8-11 of an S1 name) → datapool folder.
TYPE_DIRS = {
    "SLC_": "SLC",
    "GRDH": "GRD_HD",
    "GRDM": "GRD_MD",
    "GRDF": "GRD_FD",
    "RAW_": "RAW",
    "OCN_": "OCN",
}
_S1_NAME = re.compile(r"^S1(?P<mission>[A-D])_(?P<mode>[A-Z0-9]{2})_(?P<type>[A-Z_]{4})")


def datapool_url(base: str, product_name: str) -> str:
    """Where datapool serves an S1 product, or ProductNotFound for products it does not hold."""
    match = _S1_NAME.match(product_name)
    if not match:
        raise ProductNotFound(f"ASF datapool only serves Sentinel-1 products, not {product_name}")
    folder = TYPE_DIRS.get(match["type"])
    if folder is None:
        raise ProductNotFound(f"ASF datapool has no folder for product type {match['type'].strip('_')!r}")
    return f"{base.rstrip('/')}/{folder}/S{match['mission']}/{product_name}.zip"


class AsfProvider(Provider):
    kind = "asf"

    def __init__(self, config: DownloadProviderSettings, settings: Settings):
        super().__init__(config, settings)
        self.base_url = config.url or DATAPOOL_URL
        self.http = HttpClient(
            settings,
            timeout=config.timeout_seconds,
            credentials=StaticBearer(config.token.get_secret_value()) if config.token is not None else None,
            auth_domains=tuple(config.auth_domains) or AUTH_DOMAINS,
            redactor=self.redactor,
        )

    def close(self) -> None:
        self.http.close()

    def _own_url(self, url: str) -> str:
        parts, base = urlsplit(url), urlsplit(self.base_url)
        host = (parts.hostname or "").lower()
        domains = tuple(self.config.auth_domains) or AUTH_DOMAINS
        trusted = parts.netloc.lower() == base.netloc.lower() or _domain_match(host, domains)
        if parts.scheme not in ("http", "https") or not trusted:
            raise NotAllowed(f"asf_url {url!r}: not allowed (the token only goes to {self.base_url} and {domains})")
        return url

    def fetch(self, request: ProductRequest, destination: Path, progress: Progress | None = None) -> Path:
        if self.config.token is None:
            missing = self.config.missing_secret("token")
            raise InvalidInput(f"download provider {self.name!r} (asf) needs a token (Earthdata bearer): {missing}")
        metadata = request.metadata
        url = self._own_url(str(metadata["asf_url"])) if metadata.get("asf_url") else None
        url = url or datapool_url(self.base_url, request.product_name)
        size = metadata.get("asf_size")
        md5 = metadata.get("asf_md5")
        target = destination / f"{request.product_name}.zip"
        self.http.download(
            str(url),
            target,
            what=f"ASF download of {request.product_name}",
            expected_size=int(size) if isinstance(size, int) else None,
            md5=md5 if isinstance(md5, str) and md5 else None,
            progress=progress,
            reject_html=True,
        )
        return target
