"""Where input may point: the schemes of links, the local folders they may read, the roots outputs go to.

Payloads, scenes/tiles files and API bodies are input; the lists are the operator's (settings
`security`, docs/security.md). Every check looks at the text of the URL before anything is
opened, and a refusal says "not allowed" whether or not the place exists. Local paths are
compared once symbolic links are resolved, so a link inside an allowed folder does not lead
out of it. fsspec's chained URLs (`a::b`) are refused: they could wrap any filesystem.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from fsspec.implementations.local import LocalFileSystem

from geocube_ingest.errors import FieldError, InvalidInput, PayloadError
from geocube_ingest.settings import Settings, get_settings

if TYPE_CHECKING:
    from geocube_ingest.catalogue.models import CatalogueScene
    from geocube_ingest.payload import Payload

LOCAL_PROTOCOLS = frozenset({"file", "local"})
_ALIASES = {"s3a": "s3", "gcs": "gs"}
_MAX_SHOWN = 200  # characters of a refused URL repeated in the message


class NotAllowed(InvalidInput):
    """Input points somewhere the operator did not allow (answered 400; a job that meets it FAILS)."""


def protocol_of(url: str) -> str:
    """The fsspec protocol of `url` ("file" for plain paths)."""
    return url.split("://", 1)[0].lower() if "://" in url else "file"


def _shown(url: str) -> str:
    return url if len(url) <= _MAX_SHOWN else url[:_MAX_SHOWN] + "..."


def local_path(url: str) -> str:
    """The absolute path fsspec would open for a local URL, symbolic links resolved."""
    return os.path.realpath(str(LocalFileSystem._strip_protocol(url)))


def is_below(path: str, root: str) -> bool:
    """Is `path` `root` itself or inside it (whole segments: /data-x is not below /data)?"""
    root = root.rstrip("/") or "/"
    return path == root or path.startswith(root if root == "/" else root + "/")


def _plain(url: str, what: str) -> str:
    text = str(url)
    if not text.strip() or "\x00" in text or "::" in text:
        raise NotAllowed(f"{what} {_shown(text)!r}: not allowed")
    return text


def check_link(url: str, settings: Settings | None = None, *, what: str = "link") -> str:
    """`url` itself when input may have it read: an allowed scheme, or a local path below a file root."""
    settings = settings or get_settings()
    text = _plain(url, what)
    protocol = protocol_of(text)
    if protocol in LOCAL_PROTOCOLS:
        path = local_path(text)
        if any(is_below(path, local_path(root)) for root in settings.security.file_roots):
            return text
        raise NotAllowed(
            f"{what} {_shown(text)!r}: not allowed (local files are read only below the folders "
            "the operator lists in security.file_roots)"
        )
    if protocol not in settings.security.url_schemes:
        schemes = ", ".join(settings.security.url_schemes) or "none"
        raise NotAllowed(f"{what} {_shown(text)!r}: not allowed (allowed schemes: {schemes})")
    return text


def _storage_key(url: str, what: str) -> tuple[str, str]:
    """(protocol family, normalised path) of a storage URL; NotAllowed for paths that play with segments."""
    protocol = protocol_of(url)
    if protocol in LOCAL_PROTOCOLS:
        return "file", local_path(url)
    rest = url.split("://", 1)[1].rstrip("/")
    segments = rest.split("/")
    if not rest or any(s in ("", ".", "..") for s in segments) or "?" in rest or "#" in rest:
        raise NotAllowed(f"{what} {_shown(url)!r}: not allowed (a plain bucket/prefix URL is expected)")
    return _ALIASES.get(protocol, protocol), rest


def storage_roots(settings: Settings) -> list[str]:
    """Where outputs may go: the configured storage root, then `security.storage_roots`."""
    return [settings.resolved_storage_uri, *settings.security.storage_roots]


def check_storage_uri(uri: str, settings: Settings | None = None, *, what: str = "storage_uri") -> str:
    """`uri` itself when it lies under an allowed storage root."""
    settings = settings or get_settings()
    text = _plain(uri, what)
    protocol, path = _storage_key(text, what)
    for root in storage_roots(settings):
        try:
            root_protocol, root_path = _storage_key(root, "storage root")
        except NotAllowed:
            continue
        if root_protocol == protocol and is_below(path, root_path):
            return text
    raise NotAllowed(
        f"{what} {_shown(text)!r}: not allowed (outputs go under the storage roots the operator allows: "
        "storage_uri and security.storage_roots)"
    )


def check_source_name(name: str, what: str = "source id") -> str:
    """A product name or id used as one path segment: no separators, no `.`/`..`, no NUL."""
    if not name or name in (".", "..") or any(c in name for c in "/\\\x00"):
        raise NotAllowed(f"{what} {_shown(name)!r}: not allowed in a path (a name is expected)")
    return name


# -- documents -------------------------------------------------------------------------------


def _metadata_links(metadata: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """(field, link) of every link a download or annotation reader may follow."""
    for key in ("download_link", "product_url"):
        if metadata.get(key):
            yield key, metadata[key]
    assets = metadata.get("assets")
    if isinstance(assets, Mapping):
        for name, asset in assets.items():
            href = asset.get("href") if isinstance(asset, Mapping) else asset
            if href:
                yield f"assets.{name}.href", href
    annotations = metadata.get("annotations")
    if isinstance(annotations, list):
        for i, link in enumerate(annotations):
            yield f"annotations[{i}]", link


def scene_data_problems(
    data: Mapping[str, Any], settings: Settings, *, where: str = "data", links: bool = True
) -> list[tuple[str, str]]:
    """(field, reason) for each `storage_uri` or link of a scene's data that input may not use."""
    problems: list[tuple[str, str]] = []
    uri = data.get("storage_uri")
    if uri:
        try:
            check_storage_uri(str(uri), settings)
        except NotAllowed as exc:
            problems.append((f"{where}.storage_uri", str(exc)))
    metadata = data.get("metadata")
    if links and isinstance(metadata, Mapping):
        for field, link in _metadata_links(metadata):
            try:
                check_link(str(link), settings, what=field)
            except NotAllowed as exc:
                problems.append((f"{where}.metadata.{field}", str(exc)))
    return problems


def check_scene_data(data: Mapping[str, Any], settings: Settings, *, what: str = "scene data") -> None:
    """FieldError naming every `storage_uri` and link of `data` that input may not use."""
    problems = scene_data_problems(data, settings, where="data")
    if problems:
        raise FieldError(what, problems[:20])


def check_payload(payload: Payload, settings: Settings) -> None:
    """PayloadError naming the payload's `storage_uri` and `annotations_urls` input may not use.

    Patterns are checked as written here, and again once their placeholders are filled in.
    """
    problems: list[tuple[str, str]] = []
    if payload.storage_uri:
        try:
            check_storage_uri(payload.storage_uri, settings)
        except NotAllowed as exc:
            problems.append(("storage_uri", str(exc)))
    for i, pattern in enumerate(payload.annotations_urls):
        try:
            check_link(pattern, settings, what="annotations_urls pattern")
        except NotAllowed as exc:
            problems.append((f"annotations_urls[{i}]", str(exc)))
    if problems:
        raise PayloadError(problems)


def check_scenes(scenes: Iterable[CatalogueScene], settings: Settings, *, what: str = "scenes") -> None:
    """FieldError naming each `storage_uri` and link of scenes given as files that input may not use."""
    problems = [
        problem
        for scene in scenes
        for problem in scene_data_problems(scene.data, settings, where=f"{scene.source_id}.data")
    ]
    if problems:
        raise FieldError(what, problems[:20])
