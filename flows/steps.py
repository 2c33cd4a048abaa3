"""Steps 1-4 of `ingest-aoi` as Prefect tasks: one per catalogue provider asked, per batch of
scenes tiled, the time series, the records and the post; each says what it produced in an
artifact. The work itself is `geocube_ingest.pipeline.prepare`'s; this module only places it.

Searching, posting and publishing are idempotent, so they retry as Prefect tasks do (after a
`TemporaryError` only: a refused query stays refused); downloads and tiles are not retried
here: the workflow database says when they are due again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any, TypeVar

from prefect import Task, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State, TaskRun
from prefect.futures import PrefectFuture
from prefect.tasks import exponential_backoff
from prefect.utilities.annotations import quote

from flows.common import artifact_key
from geocube_ingest.catalogue import CatalogueScene, CatalogueTile, SceneSearch, scenes_of
from geocube_ingest.catalogue.filters import reason_kind
from geocube_ingest.catalogue.providers import SearchProvider
from geocube_ingest.catalogue.search import combined_error, providers_for
from geocube_ingest.errors import TemporaryError
from geocube_ingest.index import Index
from geocube_ingest.index.base import CreatedRecord
from geocube_ingest.payload import Payload
from geocube_ingest.pipeline.prepare import (
    Plan,
    Prepared,
    check_input,
    create_records,
    layer_instances,
    plan_post,
    post_planned,
    scene_tiles,
    search_provider_all,
    time_series,
    withdraw_records,
)
from geocube_ingest.settings import Settings
from geocube_ingest.workflow import Workflow

SCENES_PER_TILING_TASK = 100  # Sentinel-1 SLC: each scene's annotations are read to find its bursts
MAX_ROWS = 500  # rows of a table artifact (the UI stays usable; the counts cover everything)

R = TypeVar("R")


def _temporary(task: Task[Any, Any], task_run: TaskRun, state: State[Any]) -> bool:
    """Retry only what may succeed later (an unreachable catalogue, a database that went away)."""
    try:
        state.result()
    except TemporaryError:
        return True
    except Exception:
        return False
    return False


def retrying(task_: Task[Any, R], settings: Settings) -> Task[Any, R]:
    """The task with the operator's retries (`prefect.task_retries`), delays doubling from
    `prefect.task_retry_delay_seconds`."""
    retries = settings.prefect.task_retries
    return task_.with_options(
        retries=retries,
        retry_delay_seconds=exponential_backoff(settings.prefect.task_retry_delay_seconds) if retries else 0,
        retry_jitter_factor=0.2,
        retry_condition_fn=_temporary,
    )


# -- the tasks ----------------------------------------------------------------------------


@task(name="check", task_run_name="check graphs, links and layers of {payload.name}", cache_policy=NO_CACHE)
def check_task(
    payload: Payload,
    settings: Settings,
    index: Index,
    scenes: Sequence[CatalogueScene] | None,
    tiles: Sequence[CatalogueTile] | None,
) -> dict[str, str]:
    """Refuse what the operator does not allow before anything is created; the layers' instances."""
    check_input(payload, settings, scenes=scenes, tiles=tiles)
    return layer_instances(payload, index)


@task(name="search", task_run_name="search {provider.name}", cache_policy=NO_CACHE, persist_result=False)
def search_task(provider: SearchProvider, payload: Payload) -> SceneSearch:
    """Every scene of the payload this provider has, with why some were left out."""
    found = search_provider_all(provider, payload)
    scenes_artifact(payload.name, found)
    for line in found.warnings[:20]:
        get_run_logger().warning("%s", line)
    return found


@task(name="tiles", task_run_name="tiles of scenes {first}-{last}", cache_policy=NO_CACHE, persist_result=False)
def tiles_task(
    payload: Payload, scenes: Sequence[CatalogueScene], first: int, last: int, settings: Settings
) -> list[CatalogueTile]:
    """The tiles of scenes `first` to `last` (Sentinel-1 SLC: their bursts over the AOI)."""
    tiles = scene_tiles(payload, scenes, settings)
    create_table_artifact(
        table=[{"tile": t.source_id, "scene": t.scene_source_id, "date": t.date.isoformat()} for t in tiles][:MAX_ROWS],
        description=f"{len(tiles)} tiles of {len(scenes)} scenes (scenes {first}-{last} of {payload.name})",
    )
    return tiles


@task(name="time-series", task_run_name="time series of {payload.name}", cache_policy=NO_CACHE, persist_result=False)
def graph_task(
    payload: Payload,
    scenes: Sequence[CatalogueScene],
    tiles: Sequence[CatalogueTile],
    workflow: Workflow,
    settings: Settings,
) -> list[CatalogueTile]:
    """The new tiles chained onto the AOI's time series; the links are the artifact."""
    chained = time_series(payload, scenes, tiles, workflow, settings)
    links_artifact(payload.name, chained)
    return chained


@task(name="records", task_run_name="records of {payload.name}", cache_policy=NO_CACHE, persist_result=False)
def records_task(
    payload: Payload,
    scenes: Sequence[CatalogueScene],
    tiles: Sequence[CatalogueTile],
    workflow: Workflow,
    index: Index,
) -> tuple[Plan, list[CreatedRecord]]:
    """What is new for the workflow, and a record for each new scene (created or reused)."""
    plan = plan_post(payload, scenes, tiles, workflow)
    created = create_records(index, plan)
    get_run_logger().info(
        "%d new scenes (%d already there), %d re-wired tiles; records %d created, %d reused",
        len(plan.scenes), plan.already, len(plan.relinks),
        sum(r.created for r in created), sum(not r.created for r in created),
    )  # fmt: skip
    return plan, created


@task(name="post", task_run_name="post {payload.name} to the workflow", cache_policy=NO_CACHE, persist_result=False)
def post_task(
    payload: Payload, plan: Plan, created: Sequence[CreatedRecord], workflow: Workflow, instances: dict[str, str]
) -> Prepared:
    """Scenes and tiles into the workflow database (re-posted scenes are skipped: idempotent)."""
    prepared = post_planned(payload, plan, created, workflow=workflow, instances=instances)
    create_markdown_artifact(
        key=artifact_key(payload.name, "posted"),
        markdown=(
            f"**{prepared.scenes_created} new scenes** with {prepared.tiles_created} tiles posted"
            f" ({prepared.scenes_existing} already there, {prepared.relinked} existing tiles re-wired);"
            f" records {prepared.records_created} created, {prepared.records_reused} reused."
        ),
        description=f"What this run added to AOI {payload.name}",
    )
    return prepared


# -- the steps as a whole --------------------------------------------------------------------


def search(payload: Payload, settings: Settings) -> list[CatalogueScene]:
    """Each provider serving the payload's constellation in turn (a task each) until one answers."""
    errors: list[tuple[str, BaseException]] = []
    searching = retrying(search_task, settings)
    for provider in providers_for(payload, settings):
        try:
            return searching(provider, payload).scenes
        except Exception as exc:  # each provider's failure is reported; the next one is asked
            errors.append((provider.name, exc))
    raise combined_error(errors)


def tile(payload: Payload, scenes: Sequence[CatalogueScene], settings: Settings) -> list[CatalogueTile]:
    """Tiling tasks of `SCENES_PER_TILING_TASK` scenes each, run side by side."""
    step = SCENES_PER_TILING_TASK
    futures: list[PrefectFuture[list[CatalogueTile]]] = [
        tiles_task.submit(payload, scenes[i : i + step], i + 1, min(i + step, len(scenes)), settings)
        for i in range(0, len(scenes), step)
    ]
    return [t for future in futures for t in future.result()]


def prepare(
    payload: Payload,
    settings: Settings,
    workflow: Workflow,
    index: Index,
    *,
    scenes: Sequence[CatalogueScene] | None = None,
    tiles: Sequence[CatalogueTile] | None = None,
) -> Prepared:
    """`prepare_ingestion` as tasks: check, search, tiles, time series, records, post."""
    instances = check_task(payload, settings, index, quote(scenes), quote(tiles))
    if tiles is not None:
        found = list(scenes if scenes is not None else scenes_of(tiles))
        chained = list(tiles)
    else:
        found = list(scenes) if scenes is not None else search(payload, settings)
        new = tile(payload, found, settings)
        chained = graph_task(payload, quote(found), quote(new), workflow, settings)
    plan, created = records_task(payload, quote(found), quote(chained), workflow, index)
    try:
        return retrying(post_task, settings)(payload, quote(plan), quote(created), workflow, instances)
    except BaseException:
        withdraw_records(index, created)  # the records and the post are one unit
        raise


# -- artifacts ------------------------------------------------------------------------------


def dropped_text(found: SceneSearch) -> str:
    """'10 found by demo: 9 kept, 1 over the cloud limit'."""
    kinds = Counter(reason_kind(why) for _, why in found.dropped)
    total = len(found.scenes) + len(found.dropped)
    parts = [f"{len(found.scenes)} kept"] + [f"{n} {kind}" for kind, n in kinds.most_common()]
    return f"{total} found by {found.provider}: " + ", ".join(parts)


def scenes_artifact(aoi: str, found: SceneSearch) -> None:
    rows: list[dict[str, Any]] = [
        {
            "scene": s.source_id,
            "date": s.date.isoformat(),
            "cloud cover": s.tags.get("cloudCoverPercentage", ""),
            "kept": "yes",
        }
        for s in found.scenes
    ]
    rows += [{"scene": scene, "date": "", "cloud cover": "", "kept": f"no: {why}"} for scene, why in found.dropped]
    more = f" (first {MAX_ROWS} rows)" if len(rows) > MAX_ROWS else ""
    description = dropped_text(found) + more + (" (more pages)" if found.next else "")
    create_table_artifact(key=artifact_key(aoi, "scenes"), table=rows[:MAX_ROWS], description=description)


def links_artifact(aoi: str, tiles: Sequence[CatalogueTile]) -> None:
    rows = [
        {
            "tile": t.source_id,
            "scene": t.scene_source_id,
            "date": t.date.isoformat(),
            "previous": t.previous.scene if t.previous else "",
            "reference": t.reference.scene if t.reference else "",
            "new": "re-wired" if t.ingested else "yes",
        }
        for t in tiles
    ]
    new = sum(not t.ingested for t in tiles)
    more = f" (first {MAX_ROWS} rows)" if len(rows) > MAX_ROWS else ""
    create_table_artifact(
        key=artifact_key(aoi, "tiles"),
        table=rows[:MAX_ROWS],
        description=f"{new} new tiles of {aoi} and their links, {len(tiles) - new} existing tiles re-wired{more}",
    )
