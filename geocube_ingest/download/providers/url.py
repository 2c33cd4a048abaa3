"""The scene's own links: `metadata.download_link` (the whole product) or the STAC asset hrefs.

Links are input: they are followed with the schemes the operator allows (http(s) with retries
and resume, s3://, gs://), `file://` links and paths only below `security.file_roots`.
Optional `metadata.md5` / `metadata.size` describe the download_link's file and are checked.
Options: `assets` (names to take; default all), `skip_assets` (names to leave out),
`prefer_assets` (take the assets even when a download_link exists).
A configured `token` is sent as a bearer token to the link's host (and `auth_domains`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from geocube_ingest import storage
from geocube_ingest.access import check_link
from geocube_ingest.download.copy import copy_url
from geocube_ingest.download.http import HttpClient, StaticBearer
from geocube_ingest.download.providers.base import ProductNotFound, ProductRequest, Progress, Provider
from geocube_ingest.errors import FatalError
from geocube_ingest.settings import DownloadProviderSettings, Settings

HTTP_PROTOCOLS = frozenset({"http", "https"})


def link_filename(url: str, fallback: str) -> str:
    """A file name for what `url` serves: its last path segment when it looks like a file name."""
    name = unquote(urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]) if "://" in url else Path(url).name
    if not name or "." not in name.strip(".") or name.startswith("$") or "/" in name or name in (".", ".."):
        return fallback
    return name


def without_userinfo(url: str) -> str:
    """Credentials come from settings only: a `user:password@` in a scene's link is dropped."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def asset_hrefs(assets: Any) -> dict[str, str]:
    """`{name: href}` from a STAC-like assets mapping (`{name: href}` or `{name: {"href": ...}}`)."""
    if not isinstance(assets, dict):
        return {}
    hrefs = {}
    for key, value in assets.items():
        href = value.get("href") if isinstance(value, dict) else value
        if isinstance(href, str) and href:
            hrefs[str(key)] = href
    return hrefs


class _Aggregate:
    """Progress over several files: bytes of the finished ones plus the current one."""

    def __init__(self, progress: Progress | None):
        self.progress = progress
        self.finished = 0

    def current(self, done: int, _total: int | None) -> None:
        if self.progress is not None:
            self.progress(self.finished + done, None)

    def close_file(self, size: int) -> None:
        self.finished += size


class UrlProvider(Provider):
    kind = "url"

    def __init__(self, config: DownloadProviderSettings, settings: Settings):
        super().__init__(config, settings)
        token = config.token.get_secret_value() if config.token is not None else None
        self.http = HttpClient(
            settings,
            timeout=config.timeout_seconds,
            credentials=StaticBearer(token) if token else None,
            auth_domains=config.auth_domains,
            redactor=self.redactor,
        )

    def close(self) -> None:
        self.http.close()

    def fetch(self, request: ProductRequest, destination: Path, progress: Progress | None = None) -> Path:
        metadata = request.metadata
        link = metadata.get("download_link")
        assets = self._selected_assets(metadata.get("assets"))
        prefer_assets = bool(self.config.options.get("prefer_assets"))
        if isinstance(link, str) and link and not (prefer_assets and assets):
            target = destination / link_filename(link, request.product_name)
            size = metadata.get("size")
            md5 = metadata.get("md5")
            self._get(
                link,
                target,
                progress,
                expected_size=int(size) if isinstance(size, int | str) and str(size).isdigit() else None,
                md5=md5 if isinstance(md5, str) and md5 else None,
            )
            return target
        if assets:
            return self._get_assets(assets, destination / request.product_name, progress)
        raise ProductNotFound("unable to retrieve a download link: the scene metadata has no download_link nor assets")

    def _selected_assets(self, assets: Any) -> dict[str, str]:
        hrefs = asset_hrefs(assets)
        wanted = self.config.options.get("assets")
        skipped = set(self.config.options.get("skip_assets") or ())
        if wanted:
            missing = [name for name in wanted if name not in hrefs]
            if missing:
                raise ProductNotFound(f"the scene has no asset {', '.join(map(repr, missing))}")
            hrefs = {name: hrefs[name] for name in wanted}
        return {name: href for name, href in hrefs.items() if name not in skipped}

    def _get_assets(self, assets: dict[str, str], folder: Path, progress: Progress | None) -> Path:
        for href in assets.values():  # all refused before any is read
            check_link(href, self.settings, what="download link")
        folder.mkdir(parents=True, exist_ok=True)
        aggregate = _Aggregate(progress)
        used: set[str] = set()
        for key, href in assets.items():
            name = link_filename(href, key)
            if name in used:
                name = f"{key}_{name}"
            if name in used:
                raise FatalError(f"two assets would be saved as {name!r}")
            used.add(name)
            target = self._get(href, folder / name, aggregate.current)
            aggregate.close_file(target.stat().st_size if target.is_file() else 0)
        return folder

    def _get(
        self,
        url: str,
        target: Path,
        progress: Progress | None,
        *,
        expected_size: int | None = None,
        md5: str | None = None,
    ) -> Path:
        # Links come from input (scenes files, scene data): only allowed schemes and folders are read.
        url = check_link(url, self.settings, what="download link")
        if storage.protocol_of(url) in HTTP_PROTOCOLS:
            url = without_userinfo(url)
            self.http.download(
                url,
                target,
                what=f"download of {target.name}",
                expected_size=expected_size,
                md5=md5,
                progress=progress,
            )
            return target
        return copy_url(url, target, settings=self.settings, progress=progress, expected_size=expected_size, md5=md5)
