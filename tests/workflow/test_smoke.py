from geocube_ingest.status import Status
from geocube_ingest.workflow import NewScene, NewTile, Outcome, TileKey


def test_chain_runs_in_order(workflow):
    scenes = [
        NewScene(
            f"S{i}",
            {"date": f"2022-01-0{i}T00:00:00Z"},
            [NewTile("b1", previous=TileKey(f"S{i - 1}", "b1") if i > 1 else None)],
        )
        for i in (1, 2, 3)
    ]
    workflow.ingest("A", scenes)
    for lease in workflow.claim("scene", "w"):
        assert workflow.report(lease, Outcome.done())
    order = []
    while leases := workflow.claim("tile", "w"):
        assert len(leases) == 1
        order.append(workflow.tile(leases[0].id).scene_source_id)
        workflow.report(leases[0], Outcome.done())
    assert order == ["S1", "S2", "S3"]
    assert workflow.aoi_status("A") == Status.DONE
