"""Sentinel-1 bursts from real annotation files: counts, footprints, and ESA burst ids checked against
ESA's own ids on every swath of the IPF >= 3.40 products we have (whole annotations in ../shared/fixtures,
single bursts of other swaths in tests/catalogue/data), s1-reader's asserted ids and ASF's burst stack."""

from __future__ import annotations

import gzip
import itertools
import json
import logging
import re
from pathlib import Path
from typing import Any

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
    checked_relative_orbit,
    relative_orbit,
    track_of,
)
from geocube_ingest.catalogue.s1.bursts import _unwrap, product_bursts
from geocube_ingest.catalogue.s1.manifest import parse_manifest
from geocube_ingest.errors import InvalidInput

P1A = "S1A_IW_SLC__1SDV_20200511T135117_20200511T135144_032518_03C421_7768.SAFE"
P1B = "S1A_IW_SLC__1SDV_20230108T135249_20230108T135316_046693_0598D3_BA76.SAFE"
P1C = "S1B_IW_SLC__1SDV_20210401T052622_20210401T052650_026269_032297_EFA4.SAFE"
P1D = "S1A_IW_SLC__1SDV_20220104T170557_20220104T170624_041314_04E951_F1F1.SAFE"
DAA1 = "s1_slc/S1A_IW_SLC__1SDV_20230904T063730_20230904T063757_050174_0609E3_DAA1.SAFE"
P6814 = "s1_slc/S1A_IW_SLC__1SDV_20230916T063730_20230916T063757_050349_060FCD_6814.SAFE"
DATA = Path(__file__).parent / "data"
IW_AZIMUTH_TIME_INTERVAL = 2.055556299999998e-03  # every IW SLC annotation of the fixtures, all swaths


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


@pytest.mark.parametrize("product", [f"s1_safe/{P1B}", f"s1_safe/{P1D}", DAA1, P6814])
def test_burst_ids_equal_esas_own(fixtures_dir: Path, product: str) -> None:
    """Whole annotations (IW2 of 1b, IW1 of 1d and of the 2023 pair): every burst gets ESA's two ids.

    The 16 Sep 2023 IW1 bursts are the ones an instant shared by the three swaths numbers one
    too high (108144759... instead of ESA's 108144758...)."""
    bursts = bursts_of(fixtures_dir / product)
    assert len(bursts) == 9
    for burst in bursts:
        assert burst.esa_burst_id is not None
        assert (burst.burst_id.relative, burst.burst_id.absolute) == (burst.esa_burst_id, burst.esa_absolute_burst_id)


def _esa_records() -> list[tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]]:
    document = json.loads((DATA / "s1_esa_burst_ids.json").read_text())
    return [
        (product["product"], product["orbits"], swath, burst)
        for product in document["products"]
        for swath in product["swaths"]
        for burst in swath["bursts"]
    ]


@pytest.mark.parametrize(("product", "orbits", "swath", "burst"), _esa_records(), ids=lambda v: str(v)[:12])
def test_other_swaths_equal_esas_own(product: str, orbits: dict, swath: dict, burst: dict) -> None:
    """IW2 and IW3 of the 2023 pair and IW1 of a 2022 HH product, one burst each as annotated by ESA.

    4 Sep 2023 IW3 (absolute 107768872) is the case an instant shared by the swaths numbers one
    too low; the burst's own mid-burst time gets it right."""
    track = orbits["relative_start"] or relative_orbit(product[:3], orbits["absolute_start"])
    duration = int(swath["linesPerBurst"]) * IW_AZIMUTH_TIME_INTERVAL
    found = burst_id_from_anx_offset(
        float(burst["azimuthAnxTime"]) + duration / 2,
        swath["swath"],
        track_start=track,
        track_stop=orbits["relative_stop"] or track,
        absolute_orbit=orbits["absolute_start"],
    )
    assert (found.relative, found.absolute) == (int(burst["burstId"]), int(burst["absolute"]))
    assert found.track == track


def test_every_swath_of_the_2023_pair_is_covered() -> None:
    covered = {(product[-4:], swath["swath"]) for product, _, swath, _ in _esa_records()}
    covered |= {("DAA1", "IW1"), ("6814", "IW1")}  # whole annotations above
    assert covered >= {(p, s) for p in ("DAA1", "6814") for s in ("IW1", "IW2", "IW3")}


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
    """ASF's burst ids (IW3, 2014-2021): the track-wise ids and full ids all agree.

    ASF computes absolute ids itself from one instant shared by the swaths (the middle of the
    IW2 burst), so for IW3 ours is ASF's or one more, where ESA's own annotations (above) side
    with the burst's own time."""
    records = _asf_records(fixtures_dir, name)
    assert len(records) in (166, 1)
    differences = []
    for record in records:
        props, burst = record["properties"], record["properties"]["burst"]
        duration = (parse_datetime(props["stopTime"]) - parse_datetime(props["startTime"])).total_seconds()
        found = burst_id_from_anx_offset(
            float(burst["azimuthAnxTime"]) + (duration + IW_AZIMUTH_TIME_INTERVAL) / 2,
            burst["subswath"],
            track_start=props["pathNumber"],
            track_stop=props["pathNumber"],
            absolute_orbit=props["orbit"],
        )
        assert found.relative == burst["relativeBurstID"], props["sceneName"]
        assert f"{found.track:03d}_{found.relative}_{found.swath}" == burst["fullBurstID"]
        differences.append(found.absolute - burst["absoluteBurstID"])
    assert set(differences) <= {0, 1} if burst["subswath"] == "IW3" else set(differences) == {0}


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
    """Every manifest of the fixtures follows ESA's formula but S1C's commissioning product of January 2025."""
    disagreeing = []
    manifests = sorted(
        [*fixtures_dir.glob("s1_safe/*.SAFE/manifest.safe"), *fixtures_dir.glob("s1_slc/*.SAFE/manifest.safe")]
    )
    assert len(manifests) == 8
    for path in manifests:
        safe = path.parent
        orbits = parse_manifest((safe / "manifest.safe").read_bytes())
        if relative_orbit(safe.name[:3], orbits.absolute_start) != orbits.relative_start:
            disagreeing.append((safe.name[:3], orbits.absolute_start, orbits.relative_start))
    assert disagreeing == [("S1C", 638, 15)]
    with pytest.raises(InvalidInput, match="S1D"):
        relative_orbit("S1D", 100)


def test_sentinel_1c_phasing() -> None:
    """S1C on its reference orbit, from real product pairs: S1A 059259 (track 37) and S1C 002483 six days
    later over the same ground; S1A 059835 (track 88) and S1C 003059."""
    assert relative_orbit("S1A", 59259) == relative_orbit("S1C", 2483) == 37
    assert relative_orbit("S1A", 59835) == relative_orbit("S1C", 3059) == 88


def _creodias_2014_records(fixtures_dir: Path) -> list[tuple[str, int, int]]:
    document = json.loads(
        (fixtures_dir / "odata/creodias/products_s1_grd_expand_attributes_count_top10_skip10.json").read_text()
    )
    records = []
    for product in document["value"]:
        attributes = {a["Name"]: a["Value"] for a in product["Attributes"]}
        records.append((product["Name"], int(attributes["orbitNumber"]), int(attributes["relativeOrbitNumber"])))
    return records


def test_early_2014_relative_orbits_are_recomputed(fixtures_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Real catalogue records of 4 Oct 2014 (Creodias) declare track 153 for absolute orbit 2673, which the
    formula and ESA's orbit scenario (12-day cycle from absolute orbit 1743) put on track 151; s1-reader's
    2014 test product (absolute 2674) has 154 in its manifest against 152."""
    records = _creodias_2014_records(fixtures_dir)
    assert len(records) == 10 and all(name.startswith("S1A_IW_GRDH_1SSV_20141004") for name, _, _ in records)
    caplog.set_level(logging.WARNING, logger="geocube_ingest.catalogue.s1.burst_id")
    for name, absolute, declared in records:
        assert (absolute, declared) == (2673, 153)
        assert checked_relative_orbit("S1A", absolute, declared, name) == 151
    assert len(caplog.records) == 10
    message = caplog.records[0].getMessage()
    assert records[0][0] in message and "153" in message and "151" in message
    caplog.clear()
    assert checked_relative_orbit("S1A", 2674, 154, "S1A_IW_SLC__1SDV_20141004T031312") == 152
    assert checked_relative_orbit("S1A", 32518, 71, "agrees") == 71
    assert len(caplog.records) == 1
    assert checked_relative_orbit("S1D", 100, 12, "unknown phasing keeps its metadata") == 12


def test_a_wrong_manifest_track_does_not_move_the_bursts(
    fixtures_dir: Path, s1_safe_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """1a's real manifest with the track two off, as 2014 manifests have it: same burst ids, and a warning."""
    safe = s1_safe_dir / P1A
    text = (safe / "manifest.safe").read_text()
    wrong, count = re.subn(r'(relativeOrbitNumber type="(?:start|stop)">)71<', r"\g<1>73<", text)
    assert count == 2
    annotations = [
        (str(p), parse_annotation(p.read_bytes(), str(p))) for p in sorted((safe / "annotation").glob("s1*.xml"))
    ]
    caplog.set_level(logging.WARNING, logger="geocube_ingest.catalogue.s1.burst_id")
    bursts = product_bursts(annotations, parse_manifest(wrong.encode()), product=P1A)
    assert [b.burst_id for b in bursts] == [b.burst_id for b in bursts_of(safe)]
    assert {b.burst_id.track for b in bursts} == {71}
    assert any(P1A in r.getMessage() and "73" in r.getMessage() and "71" in r.getMessage() for r in caplog.records)


def test_tracks_of_esas_id_table() -> None:
    """ESA's per-track id ranges (s1-reader's sentinel1_track_burst_id.txt): 1-2148, 2149-4296, ... 373740-375887."""
    assert [track_of(i, "IW1") for i in (1, 2148, 2149, 4296, 4297, 373739, 373740, 375887)] == [
        1,
        1,
        2,
        2,
        3,
        174,
        175,
        175,
    ]


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
    """CDSE's Bursts API example (IW1, from ESA's annotation): both ids agree with the burst's own mid-burst time
    (an instant shared by the swaths gives an absolute id one too high here)."""
    entity = json.loads(
        (fixtures_dir / "odata/cdse/bursts_entity_S1A-SLC-20240802T060723-15805-IW1-VH_docs_example.json").read_text()
    )
    orbit = int(name_info(entity["ParentProductName"]).absolute_orbit)
    found = burst_id_from_anx_offset(
        entity["AzimuthAnxTime"] + entity["LinesPerBurst"] * IW_AZIMUTH_TIME_INTERVAL / 2,
        entity["SwathIdentifier"],
        track_start=entity["RelativeOrbitNumber"],
        track_stop=entity["RelativeOrbitNumber"],
        absolute_orbit=orbit,
    )
    assert str(found) == "t008_015805_iw1"
    assert (found.relative, found.absolute) == (entity["BurstId"], entity["AbsoluteBurstId"])
