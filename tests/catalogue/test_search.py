"""search_scenes: what the payload adds to scenes, paging arguments, progress."""

from __future__ import annotations

import pytest

from geocube_ingest.catalogue import search_scenes
from geocube_ingest.errors import InvalidInput
from tests.catalogue.conftest import settings_with
from tests.catalogue.helpers import s2_payload

WINDOW = {"start_time": "2024-03-30T00:00:00Z", "end_time": "2024-04-25T00:00:00Z"}


def test_payload_fields_and_record_tags(earth_search) -> None:
    area = s2_payload(
        **WINDOW,
        storage_uri="s3://bucket/cubes",
        graph_config={"resolution": "20"},
        record_tags={"area": "Front Range", "constellation": "MINE"},  # catalogue tags win on conflict
    )
    result = search_scenes(area, settings=settings_with({"preset": "earth-search", "url": earth_search.base}))
    scene = result.scenes[0]
    assert scene.aoi == "Front-Range" and scene.graph_name == "CopyProductToStorage"
    assert scene.data["storage_uri"] == "s3://bucket/cubes" and scene.data["graph_config"] == {"resolution": "20"}
    assert scene.data["is_retriable"] is True
    assert scene.tags["area"] == "Front Range" and scene.tags["constellation"] == "SENTINEL2"


def test_paging_from_the_payload_and_arguments(earth_search) -> None:
    settings = settings_with({"preset": "earth-search", "url": earth_search.base})
    assert len(search_scenes(s2_payload(**WINDOW, page=1, limit=4), settings=settings).scenes) == 4
    assert len(search_scenes(s2_payload(**WINDOW, page=1, limit=4), settings=settings, page=2).scenes) == 2
    with pytest.raises(InvalidInput, match="page needs a limit"):
        search_scenes(s2_payload(**WINDOW), settings=settings, page=1)


def test_progress_is_reported(earth_search) -> None:
    seen: list[tuple[int, int | None, str]] = []
    settings = settings_with({"preset": "earth-search", "url": earth_search.base})
    search_scenes(s2_payload(**WINDOW), settings=settings, progress=lambda *a: seen.append(a))
    assert seen == [(0, 1, "searching earth-search"), (1, 1, "10 scenes from earth-search")]
