"""A static STAC catalogue: an ItemCollection / FeatureCollection file, or a catalog/collection tree.

Read with pystac through fsspec (local, s3://, gs://, http(s)://) and filtered in Python:
the place of a STAC API when the archive's metadata is a folder of JSON files.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pystac
from pystac.stac_io import DefaultStacIO

from geocube_ingest import storage
from geocube_ingest.catalogue.dates import parse_datetime
from geocube_ingest.catalogue.providers.base import ProviderPage, SceneQuery, SearchProvider
from geocube_ingest.catalogue.providers.presets import stac_mapping
from geocube_ingest.catalogue.providers.stac import items_to_scenes
from geocube_ingest.catalogue.refine import OUTSIDE_AOI, inside
from geocube_ingest.errors import FatalError, InvalidInput, TemporaryError
from geocube_ingest.payload import Constellation
from geocube_ingest.settings import Settings


class FsspecStacIO(DefaultStacIO):
    """pystac I/O through the project's storage settings (S3 endpoint, GCS credentials...).

    A document is one GET (`cat_file`), bounded by `timeout` on http(s)."""

    def __init__(self, settings: Settings | None = None, timeout: float | None = None):
        super().__init__()
        self.settings = settings
        self.timeout = timeout

    def read_text(self, source: Any, *args: Any, **kwargs: Any) -> str:
        href = str(source.get_absolute_href() if isinstance(source, pystac.Link) else source)
        fs, path = storage.filesystem(href, settings=self.settings, timeout=self.timeout)
        return bytes(fs.cat_file(path)).decode("utf-8")


class StaticStacProvider(SearchProvider):
    kind = "stac-static"

    def _read_items(self) -> list[dict[str, Any]]:
        stac_io = FsspecStacIO(self.settings, self.timeout)
        url = self.config.url
        try:
            return self._items_of(stac_io, url)
        except FileNotFoundError:
            raise InvalidInput(f"{self.name}: no STAC file at {url}") from None
        except json.JSONDecodeError as exc:
            raise FatalError(f"{self.name}: {url} is not JSON ({exc.msg})") from None
        except (OSError, aiohttp.ClientError) as exc:  # timeouts are OSErrors too
            raise TemporaryError(f"{self.name}: cannot read {url}: {type(exc).__name__}: {exc}") from None

    def _items_of(self, stac_io: FsspecStacIO, url: str) -> list[dict[str, Any]]:
        document = json.loads(stac_io.read_text(url))
        kind = document.get("type")
        if kind == "FeatureCollection":
            return [f for f in document.get("features", []) if isinstance(f, dict)]
        if kind == "Feature":
            return [document]
        if kind in ("Catalog", "Collection"):
            root = pystac.read_dict(document, href=url, stac_io=stac_io)
            if not isinstance(root, pystac.Catalog):
                raise FatalError(f"{self.name}: {url} is not a catalog")
            return [item.to_dict(transform_hrefs=False) for item in root.get_items(recursive=True)]
        raise FatalError(f"{self.name}: {url} is a {kind!r}, not a STAC catalog or item collection")

    def _collections(self, query: SceneQuery) -> set[str] | None:
        """Collections to keep when the options map this constellation; None keeps every item of it."""
        given = {Constellation.parse(name) for name in (self.config.options.get("collections") or {})}
        if query.constellation not in given:
            return None
        mapping = stac_mapping(None, self.config.options)
        if query.filters.product_type is None:
            return set(mapping.collections[query.constellation].values())
        return {mapping.collection(self.name, query.constellation, query.filters.product_type)}

    def search(self, query: SceneQuery) -> ProviderPage:
        notes: list[str] = []
        collections = self._collections(query)
        items = []
        for item in self._read_items():
            if collections is not None and item.get("collection") not in collections:
                continue
            props = item.get("properties") or {}
            when = props.get("start_datetime") or props.get("datetime")
            try:
                if when is None or not query.start <= parse_datetime(when) <= query.end:
                    continue
            except ValueError:
                notes.append(f"{self.name}: skipped item {item.get('id')}: bad datetime {when!r}")
                continue
            items.append(item)
        scenes = items_to_scenes(items, self.name, query, notes)
        dropped: list[tuple[str, str]] = []
        kept = []
        for scene in scenes:
            why = OUTSIDE_AOI if not inside(scene, query.aoi) else query.filters.mismatch(scene)
            if why is None:
                kept.append(scene)
            else:
                dropped.append((scene.source_id, why))
        kept.sort(key=lambda s: (s.date, s.source_id))
        if query.limit is None:
            return ProviderPage(kept, False, notes, dropped)
        start = (query.page or 0) * query.limit
        return ProviderPage(kept[start : start + query.limit], start + query.limit < len(kept), notes, dropped)
