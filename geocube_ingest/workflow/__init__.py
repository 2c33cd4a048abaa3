"""Durable state of AOIs, scenes and tiles, with the dispatch, retry and failure rules."""

from geocube_ingest.workflow.models import (
    AOIInfo,
    AOISummary,
    Delay,
    Event,
    IngestResult,
    Lease,
    LeaseHolder,
    NewScene,
    NewTile,
    Outcome,
    Relink,
    Scene,
    StatusCounts,
    Tile,
    TileKey,
    WorkStatus,
)
from geocube_ingest.workflow.service import Workflow

__all__ = [
    "AOIInfo",
    "AOISummary",
    "Delay",
    "Event",
    "IngestResult",
    "Lease",
    "LeaseHolder",
    "NewScene",
    "NewTile",
    "Outcome",
    "Relink",
    "Scene",
    "StatusCounts",
    "Tile",
    "TileKey",
    "WorkStatus",
    "Workflow",
]
