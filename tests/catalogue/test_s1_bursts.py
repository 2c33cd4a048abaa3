"""Sentinel-1 bursts from real annotation files: counts, footprints, and ESA burst ids checked against
ESA's own ids (IPF >= 3.40 products), s1-reader's asserted ids and ASF's 166-acquisition burst stack."""

from __future__ import annotations

import gzip
import itertools
from pathlib import Path

import pytest
import shapely
import yaml
from shapely.geometry import Polygon

from geocube_ingest.catalogue.dates import parse_datetime
from geocube_ingest.catalogue.naming import name_info
from geocube_ingest.catalogue.s1.annotation import parse_annotation
from geocube_ingest.catalogue.s1.burst_id import (
    T_ORBIT,
    BurstId,
    burst_id_from_anx_offset,
    relative_orbit,
)
from geocube_ingest.catalogue.s1.bursts import _unwrap, product_bursts
from geocube_ingest.catalogue.s1.manifest import parse_manifest
from geocube_ingest.errors import InvalidInput

P1A = "S1A_IW_SLC__1SDV_20200511T135117_20200511T135144_032518_03C421_7768.SAFE"
P1B = "S1A_IW_SLC__1SDV_20230108T135249_20230108T135316_046693_0598D3_BA76.SAFE"
P1C = "S1B_IW_SLC__1SDV_20210401T052622_20210401T052650_026269_032297_EFA4.SAFE"
P1D = "S1A_IW_SLC__1SDV_20220104T170557_20220104T170624_041314_04E951_F1F1.SAFE"


def bursts_of(safe: Path, with_manifest: bool = True):
    annotations = [
        (str(p), parse_annotation(p.read_bytes(), str(p))) for p in sorted((safe / "annotation").glob("s1*.xml"))
    ]
    manifest = parse_manifest((safe / "manifest.safe").read_bytes()) if with_manifest else None
    return product_bursts(annotations, manifest)


def test_1a_gives_27_bursts_with_s1_reader_ids(s1_safe_dir: Path) -> None:
    bursts = bursts_of(s1_safe_dir / P1A)
    assert len(bursts) == 27
    by_swath = {swath: [str(b.burst_id) for b in bursts if b.swath == swath] for swath in ("IW1", "IW2", "IW3")}
    # s1-reader's own test asserts IW3; the others follow the swath timing.
    assert by_swath["IW3"] == [f"t071_{n:06d}_iw3" for n in range(151199, 151208)]
    assert by_swath["IW2"] == [f"t071_{n:06d}_iw2" for n in range(151199, 151208)]
    assert by_swath["IW1"] == [f"t071_{n:06d}_iw1" for n in range(151200, 151209)]
    assert [b.index for b in bursts if b.swath == "IW1"] == list(range(1, 10))


@pytest.mark.parametrize("product", [P1B, P1D])
def test_burst_ids_equal_esas_own(s1_safe_dir: Path, product: str) -> None:
    bursts = bursts_of(s1_safe_dir / product)
    assert len(bursts) == 9
    for burst in bursts:
        assert burst.esa_burst_id is not None
        assert (burst.burst_id.relative, burst.burst_id.absolute) == (burst.esa_burst_id, burst.esa_absolute_burst_id)


def test_ids_of_1b_and_1d_spelled_out(s1_safe_dir: Path) -> None:
    assert [str(b.burst_id) for b in bursts_of(s1_safe_dir / P1B)][:2] == ["t071_151227_iw2", "t071_151228_iw2"]
    first = bursts_of(s1_safe_dir / P1D)[0]
    assert str(first.burst_id) == "t117_249402_iw1" and first.burst_id.absolute == 88737586


def test_1c_s1b(s1_safe_dir: Path) -> None:
    assert [str(b.burst_id) for b in bursts_of(s1_safe_dir / P1C)] == [f"t168_{n}_iw1" for n in range(359498, 359507)]


@pytest.mark.parametrize("product", [P1A, P1B, P1C, P1D])
def test_without_the_manifest_the_ids_are_the_same(s1_safe_dir: Path, product: str) -> None:
    with_manifest = [b.burst_id for b in bursts_of(s1_safe_dir / product)]
    assert [b.burst_id for b in bursts_of(s1_safe_dir / product, with_manifest=False)] == with_manifest


def _asf_records(fixtures_dir: Path, name: str) -> list[dict]:
    raw = (fixtures_dir / "asf" / name).read_bytes()
    text = (gzip.decompress(raw) if name.endswith(".gz") else raw).decode()
    document = yaml.load(text.replace("None", "null"), Loader=yaml.CSafeLoader)
    return document if isinstance(document, list) else [document]


@pytest.mark.parametrize("name", ["SLC_BURST_stack.yml.gz", "SLC_BURST.yml"])
def test_asf_burst_stack_over_seven_years(fixtures_dir: Path, name: str) -> None:
    records = _asf_records(fixtures_dir, name)
    assert len(records) in (166, 1)
    for record in records:
        props, burst = record["properties"], record["properties"]["burst"]
        # The burst's sensing time after the node: zero-Doppler ANX offset + (first-line sensing - zero-Doppler).
        since_anx = (
            float(burst["azimuthAnxTime"])
            + (parse_datetime(props["startTime"]) - parse_datetime(burst["azimuthTime"])).total_seconds()
        )
        found = burst_id_from_anx_offset(
            since_anx,
            burst["subswath"],
            track_start=props["pathNumber"],
            track_stop=props["pathNumber"],
            absolute_orbit=props["orbit"],
        )
        assert (found.relative, found.absolute) == (burst["relativeBurstID"], burst["absoluteBurstID"]), props[
            "sceneName"
        ]
        assert f"{found.track:03d}_{found.relative}_{found.swath}" == burst["fullBurstID"]


def test_crossing_the_ascending_node() -> None:
    """A burst an orbit after the given node: either the product crossed it (stop track) or the node was early."""
    t = 1234.5
    crossed = burst_id_from_anx_offset(t + T_ORBIT, "IW2", track_start=70, track_stop=71, absolute_orbit=1000)
    normal = burst_id_from_anx_offset(t, "IW2", track_start=71, track_stop=71, absolute_orbit=1001)
    assert crossed == normal and crossed.track == 71
    early = burst_id_from_anx_offset(t + T_ORBIT, "IW2", track_start=71, track_stop=71, absolute_orbit=1001)
    assert early == normal
    wrap = burst_id_from_anx_offset(t + T_ORBIT, "IW1", track_start=175, track_stop=1, absolute_orbit=10)
    assert wrap.track == 1 and wrap == burst_id_from_anx_offset(
        t, "IW1", track_start=1, track_stop=1, absolute_orbit=11
    )


def test_relative_orbits_from_manifests(fixtures_dir: Path) -> None:
    for safe in sorted((fixtures_dir / "s1_safe").glob("*.SAFE")):
        orbits = parse_manifest((safe / "manifest.safe").read_bytes())
        assert relative_orbit(safe.name[:3], orbits.absolute_start) == orbits.relative_start, safe.name
    with pytest.raises(InvalidInput, match="S1D"):
        relative_orbit("S1D", 100)


def test_burst_id_keys() -> None:
    assert str(BurstId(71, 151199, 69845014, "IW3")) == "t071_151199_iw3"
    assert BurstId.parse_key("t071_151199_iw3") == (71, 151199, "IW3")
    with pytest.raises(InvalidInput):
        BurstId.parse_key("A44_IW1_8979")
    with pytest.raises(InvalidInput, match="IW4"):
        burst_id_from_anx_offset(10.0, "IW4", track_start=1, track_stop=1, absolute_orbit=1)


def test_footprints_follow_the_geolocation_grid(s1_safe_dir: Path) -> None:
    bursts = bursts_of(s1_safe_dir / P1A)
    # manifest footprint "37.133995,-115.650406 37.530949,-118.474800 39.150517,-118.142548 38.754860,-115.252251"
    product = Polygon(
        [(-115.650406, 37.133995), (-118.4748, 37.530949), (-118.142548, 39.150517), (-115.252251, 38.75486)]
    )
    for burst in bursts:
        footprint = burst.footprint
        assert isinstance(footprint, Polygon) and footprint.is_valid
        assert len(footprint.exterior.coords) == 43  # 21 grid points at each burst boundary, closed
        assert product.buffer(0.02).contains(footprint)
        assert 0.15 < footprint.area < 0.22  # about 20 km x 85 km
    union = shapely.unary_union([b.footprint for b in bursts])
    assert union.intersection(product).area / product.area > 0.9  # swaths are staggered at the ends
    iw1 = [b.footprint for b in bursts if b.swath == "IW1"]
    for upper, lower in itertools.pairwise(iw1):
        assert upper.intersects(lower) and upper.intersection(lower).area < 0.1 * upper.area  # neighbours only touch


def test_annotation_corners_match_the_measurement_gcps(s1_safe_dir: Path) -> None:
    """The grid points used for footprints are the GCPs of the product's own measurement TIFF."""
    import rasterio

    safe = s1_safe_dir / P1D
    tiff = next((safe / "measurement").glob("*.tiff"))
    annotation = parse_annotation(next((safe / "annotation").glob("s1*.xml")).read_bytes())
    with rasterio.open(tiff) as dataset:
        gcps, _ = dataset.gcps
    by_position = {(round(g.row), round(g.col)): (g.x, g.y) for g in gcps}
    matched = 0
    for point in annotation.grid:
        if (point.line, point.pixel) in by_position:
            x, y = by_position[(point.line, point.pixel)]
            assert (x, y) == pytest.approx((point.longitude, point.latitude), abs=1e-6)
            matched += 1
    assert matched == len(annotation.grid) == 210


def test_antimeridian_bursts_are_split() -> None:
    crossing = Polygon([(179.5, 10), (-179.5, 10), (-179.5, 11), (179.5, 11)])
    unwrapped = _unwrap(crossing)
    assert unwrapped.geom_type == "MultiPolygon"
    assert unwrapped.bounds == pytest.approx((-180, 10, 180, 11))
    assert unwrapped.area == pytest.approx(1.0)


def test_broken_annotations_are_named(tmp_path: Path, s1_safe_dir: Path) -> None:
    with pytest.raises(InvalidInput, match=r"broken\.xml: not valid XML"):
        parse_annotation(b"<product><adsHeader>", "broken.xml")
    with pytest.raises(InvalidInput, match="not a Sentinel-1 product annotation"):
        parse_annotation(b"<calibration/>", "cal.xml")
    text = next((s1_safe_dir / P1A / "annotation").glob("*iw1*.xml")).read_text()
    without_grid = text.replace("geolocationGridPoint>", "nothing>")
    with pytest.raises(InvalidInput, match="no geolocation grid"):
        parse_annotation(without_grid.encode(), "nogrid.xml")


def test_cdse_burst_entity(fixtures_dir: Path) -> None:
    """CDSE's Bursts API example: the track-wise id agrees; its absolute id is one less than ESA's method
    gives (the known discrepancy of fixtures README section 7), so only closeness is checked there."""
    import json

    entity = json.loads(
        (fixtures_dir / "odata/cdse/bursts_entity_S1A-SLC-20240802T060723-15805-IW1-VH_docs_example.json").read_text()
    )
    since_anx = (
        entity["AzimuthAnxTime"]
        + (parse_datetime(entity["BeginningDateTime"]) - parse_datetime(entity["AzimuthTime"])).total_seconds()
    )
    orbit = int(name_info(entity["ParentProductName"]).absolute_orbit)
    found = burst_id_from_anx_offset(
        since_anx,
        entity["SwathIdentifier"],
        track_start=entity["RelativeOrbitNumber"],
        track_stop=8,
        absolute_orbit=orbit,
    )
    assert str(found) == "t008_015805_iw1" and found.relative == entity["BurstId"]
    assert found.absolute - entity["AbsoluteBurstId"] in (0, 1)
