"""open_cube on S3 storage (a moto server with its own endpoint): layers, STAC items and reads all on S3."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from geocube_ingest import storage
from geocube_ingest.index.cube import open_cube
from geocube_ingest.index.embedded import EmbeddedIndex
from geocube_ingest.index.stac import publish_collection
from geocube_ingest.settings import Settings, get_settings
from tests.index.conftest import new_record
from tests.index.layers import NDVI, prepare, real_values, write_layer
from tests.storage.servers import S3Server, s3_server  # noqa: F401  (the moto server fixture)

AOI = "OnS3"


def test_open_cube_reads_layers_on_s3(s3_server: S3Server, tmp_path: Path) -> None:  # noqa: F811
    bucket = s3_server.new_bucket()
    settings: Settings = get_settings().with_overrides(
        {
            "database_url": f"sqlite:///{tmp_path / 'index.db'}",
            "storage_uri": f"s3://{bucket}/cubes",
            "s3": s3_server.settings().model_dump(),
        }
    )
    index = EmbeddedIndex(settings=settings)
    instances = prepare(index, (NDVI,))
    expected = {}
    for day in (4, 8):
        record = index.create_records([new_record(f"S2B_202201{day:02d}", day)])[0]
        local = write_layer(tmp_path / f"d{day}", NDVI, real_values(NDVI, seed=day), record.id, instances["ndvi"])
        url = storage.join(settings.resolved_storage_uri, AOI, record.record.name, "tiles", "T1", "ndvi.tif")
        storage.put_file(Path(local.uri), url, settings=settings)
        index.index_datasets([replace(local, uri=url)])
        expected[day] = real_values(NDVI, seed=day)
    published = publish_collection(index, AOI, settings=settings)
    assert published.collection.startswith(f"s3://{bucket}/cubes/{AOI}/stac/")

    items = list((tmp_path / "items").glob("*"))  # nothing local: everything is on S3
    assert not items
    cube = open_cube("NDVI", "S2", collection=AOI, settings=settings).compute()
    assert cube.sizes["time"] == 2
    for values, day in zip(cube.values, (4, 8), strict=True):
        np.testing.assert_array_equal(np.isnan(values), np.isnan(expected[day]))
        assert np.nanmax(np.abs(values - expected[day])) <= NDVI.tolerance()
