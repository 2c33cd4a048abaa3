"""Handing a graph's outputs on: store `to_create`/`to_index`, index, then delete `to_delete`.

Storing happens in the job, wherever it runs (`store_outputs`); indexing and deleting
happen in the orchestrating process (`publish_outputs`), the only one that holds index
credentials. Deletions come last (upstream: "to ease a retry"): nothing is removed from
storage before everything to keep is stored and indexed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from geocube_ingest import storage
from geocube_ingest.errors import FatalError, RetriableError
from geocube_ingest.index.base import DatasetToIndex, Index
from geocube_ingest.processing.cog import ensure_cog
from geocube_ingest.processing.graph import ANY_EXTENSION, OutFile, companion_extension
from geocube_ingest.processing.runner import SelectedOutput
from geocube_ingest.processing.workspace import SlotTile, Workspace, stored_layer
from geocube_ingest.settings import Settings

log = logging.getLogger(__name__)
_TIFF = (".tif", ".tiff")


@dataclass
class ProcessResult:
    outputs: list[str] = field(default_factory=list)  # stored URLs
    indexed: list[DatasetToIndex] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    # `to_delete` outputs, deleted once the rest is stored and indexed.
    to_delete: list[str] = field(default_factory=list)


def stored_extension(out: OutFile, path: Path) -> str:
    """`*` (upstream's "whatever the product is") stores the product under its own extension."""
    if out.extension != ANY_EXTENSION:
        return out.extension
    return path.suffix.lstrip(".") or "bin"


def dataset(slot: SlotTile, out: OutFile, uri: str, config: dict[str, str], required: bool) -> DatasetToIndex | None:
    """The index entry of a stored output; None when its record or instance is unknown and not required."""
    record_id = str(slot.scene_data.get("record_id") or "")
    instances: Any = slot.scene_data.get("instances_id") or {}
    layer = stored_layer(out.layer)
    instance_id = str(instances.get(layer, "")) if isinstance(instances, dict) else ""
    if not record_id or not instance_id:
        if not required:
            return None
        missing = "record_id" if not record_id else f"instances_id[{layer!r}]"
        raise FatalError(f"scene {slot.scene_source_id} has no {missing}: cannot index layer {layer}")
    dformat = out.dformat(config)
    if dformat is None or out.ext_min_value is None or out.ext_max_value is None:
        raise FatalError(f"layer {layer}: an indexed output needs dformat_out, ext_min_value and ext_max_value")
    return DatasetToIndex(
        uri=uri,
        record_id=record_id,
        instance_id=instance_id,
        dformat=dformat,
        real_min=out.ext_min_value,
        real_max=out.ext_max_value,
        exponent=out.exponent,
        bands=tuple(range(1, out.nbands + 1)),
        layer=layer,
    )


def _companion_url(url: str) -> str | None:
    stem, dot, ext = url.rpartition(".")
    companion = companion_extension(ext) if dot else None
    return f"{stem}.{companion}" if companion else None


def delete_stored(url: str, settings: Settings) -> bool:
    """Delete a stored layer, also when it was stored zipped (a folder such as X.SAFE), with its companion."""
    deleted = False
    for logical in (url, _companion_url(url)):
        for candidate in (logical, f"{logical}.zip") if logical else ():
            if storage.exists(candidate, settings=settings):
                storage.delete(candidate, recursive=True, settings=settings)
                deleted = True
                break
    return deleted


def store_companion(path: Path, url: str, settings: Settings) -> str | None:
    """Store `X.data` next to a stored `X.dim` (SNAP writes both; the header alone is useless)."""
    companion_url = _companion_url(url)
    folder = path.with_suffix("." + companion_url.rpartition(".")[2]) if companion_url else None
    if companion_url is None or folder is None or not folder.is_dir():
        return None
    return storage.put_path(folder, companion_url, settings=settings)


def store_outputs(
    selected: list[SelectedOutput],
    workspace: Workspace,
    config: dict[str, str],
    *,
    index_required: bool,
    settings: Settings,
) -> ProcessResult:
    """Store what the graph keeps (COGs checked first); say what to index and what to delete."""
    result = ProcessResult()
    for item in selected:
        out, slot = item.file, workspace.slots[item.slot]
        if out.action == "to_delete":
            result.to_delete.append(slot.uri(out.layer, out.extension))
            continue
        if out.action not in ("to_create", "to_index"):
            continue
        target = slot.uri(out.layer, stored_extension(out, item.path))
        deferred = workspace.deferred.get(item.path)
        if deferred is not None and deferred.pending is not None and not item.path.exists():
            # Written (and checked) at its final URL by the step: it appears there now.
            log.info("store %s (written there by the step)", target)
            url = deferred.pending.commit()
            result.outputs.append(url)
        else:
            if not item.path.exists():
                raise RetriableError(f"output {out.layer}.{out.extension} of {slot.tile_source_id} was not produced")
            if out.action == "to_index" and item.path.suffix.lower() in _TIFF:
                ensure_cog(item.path, settings=settings)
            log.info("store %s", target)
            url = storage.put_path(item.path, target, settings=settings)
            result.outputs.append(url)
            companion = store_companion(item.path, target, settings)
            if companion is not None:
                result.outputs.append(companion)
        if out.action == "to_index":
            entry = dataset(slot, out, url, config, required=index_required)
            if entry is not None:
                result.indexed.append(entry)
    return result


def publish_outputs(result: ProcessResult, *, index: Index | None, settings: Settings) -> ProcessResult:
    """Index the stored outputs, then delete the `to_delete` ones."""
    if index is not None and result.indexed:
        index.index_datasets(list(result.indexed))
    for url in result.to_delete:
        if delete_stored(url, settings):
            log.info("deleted %s", url)
            result.deleted.append(url)
    return result
