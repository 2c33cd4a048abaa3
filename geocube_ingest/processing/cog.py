"""Cloud-Optimized GeoTIFFs: writing them from lazy arrays, converting files, checking them.

A lazy array's chunks are computed on the configured cluster in the orchestrating process,
and on the worker's own threads inside a tile or scene job sent to a worker (`computed`),
so a job's chunks never need another machine's scratch folder. Two writers
(`processing.cog_writer`):

- "tiles" (the default): each chunk's task also cuts the chunk into COG tiles, halves it
  for the overviews and compresses them, and the writing process lays the COG out from
  those bytes front to back (`cog_tiles`), so it streams it straight to an object (S3, GCS):
  no local COG, no upload afterwards;
- "gdal": the chunks come back uncompressed into a tiled GTiff, GDAL adds the overviews
  and its COG driver lays the file out and compresses it with every core; a COG bound for
  an object store is then uploaded (also what "tiles" does for data it cannot write).

Every COG is written straight to its destination (`write_pending`), there only once
rio-cogeo accepted it; a job commits the COGs it keeps only when all its steps succeeded
(`processing.job`). Memory stays bounded: a window of chunks in flight plus GDAL's block
cache (`gdal_cache_mb`). odc-geo's Dask COG writer was measured against GDAL's driver on
the same work (`bench/processing.py --odc`) and was slower on 2 cores.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import shutil
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import dask.array as darr
import rasterio
import rasterio.shutil
from dask.array.core import slices_from_chunks
from rasterio.enums import Resampling
from rasterio.errors import NotGeoreferencedWarning
from rio_cogeo import cog_validate

from geocube_ingest import storage
from geocube_ingest.errors import FatalError
from geocube_ingest.processing import cog_tiles
from geocube_ingest.settings import Settings, get_settings

if TYPE_CHECKING:
    import xarray as xr
    from distributed import Client

log = logging.getLogger(__name__)

CONTINUOUS = "AVERAGE"
CATEGORICAL = "NEAREST"


class _GcpRasterNotice(logging.Filter):
    """rioxarray creates a GCP-georeferenced file with an identity transform, then sets its GCPs.

    GDAL then says the transform is cleared: expected, and only noise for a user.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "going to be cleared due to the setting of GCPs" not in record.getMessage()


logging.getLogger("rasterio._env").addFilter(_GcpRasterNotice())
# Same cause, as a Python warning; a filter set once (catch_warnings is not thread-safe).
warnings.filterwarnings("ignore", "The given matrix is equal to Affine.identity", NotGeoreferencedWarning)


def gdal_env(settings: Settings, **options: object) -> rasterio.Env:
    return rasterio.Env(
        GDAL_CACHEMAX=settings.processing.gdal_cache_mb,
        GDAL_NUM_THREADS="ALL_CPUS",
        GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR",
        **options,
    )


def to_cog(
    src: str | Path,
    dst: Path,
    *,
    resampling: str = CONTINUOUS,
    settings: Settings | None = None,
) -> Path:
    """Convert any raster GDAL reads (GTiff, JP2, VRT, /vsizip/...) into a COG at `dst` (nodata kept)."""
    settings = settings or get_settings()
    p = settings.processing
    options: dict[str, object] = {
        "compress": p.cog_compress,
        "blocksize": p.cog_blocksize,
        "overview_resampling": resampling,
        "num_threads": "ALL_CPUS",
        "bigtiff": "IF_SAFER",
    }
    dst.parent.mkdir(parents=True, exist_ok=True)
    partial = dst.with_name(f".{dst.name}.{uuid.uuid4().hex[:8]}.part")
    try:
        with gdal_env(settings):
            rasterio.shutil.copy(str(src), str(partial), driver="COG", **options)
        partial.replace(dst)
    finally:
        partial.unlink(missing_ok=True)
    return dst


@contextlib.contextmanager
def cluster_client(client: Client | None = None, settings: Settings | None = None) -> Iterator[Client]:
    """The client to compute on. Inside a task running on a worker, that worker's client,
    seceding from its thread pool while waiting (so even a cluster of one worker with one
    thread does not deadlock); elsewhere `client`, or the configured cluster's."""
    from distributed import get_worker, worker_client

    try:
        get_worker()
    except ValueError:
        if client is None:
            from geocube_ingest.processing.cluster import get_client

            client = get_client(settings)
        yield client
        return
    with worker_client() as own:
        yield own


def computed(tasks: list[Any], *, client: Client | None, settings: Settings) -> Iterator[tuple[int, Any]]:
    """(index, value) of each of `tasks` (dask Delayed) as it is done, submitted in order a
    window at a time (twice the threads), so memory stays bounded whatever the raster size.

    With a cluster (`client`, a scheduler address, a task running on a worker, LocalCluster
    processes) the tasks run there. On the threads of this process (a job on a worker:
    `job.job_settings`), each task runs whole on one thread of a pool: a distributed
    scheduler in the process would only add its own CPU (a fifth of a core on 2 cores).
    """
    p = settings.processing
    if client is None and p.dask_scheduler is None and not p.processes and not _in_worker_task():
        threads = (p.n_workers or 1) * (p.threads_per_worker or os.cpu_count() or 1)
        yield from _computed_on_threads(tasks, threads, settings)
        return
    with cluster_client(client, settings) as c:
        yield from _computed_on_cluster(tasks, c)


def _in_worker_task() -> bool:
    from distributed import get_worker

    try:
        get_worker()
    except ValueError:
        return False
    return True


def _compute_here(task: Any, settings: Settings) -> Any:
    # GDAL options are per thread: without them a read would fill GDAL's default block cache
    # (5% of the machine's memory) with the whole input before anything is evicted.
    with gdal_env(settings):
        return task.compute(scheduler="sync")


def _computed_on_threads(tasks: list[Any], threads: int, settings: Settings) -> Iterator[tuple[int, Any]]:
    todo = iter(enumerate(tasks))
    pending: dict[Future[Any], int] = {}
    with ThreadPoolExecutor(threads, thread_name_prefix="geocube-chunk") as pool:

        def submit() -> None:
            item = next(todo, None)
            if item is not None:
                pending[pool.submit(_compute_here, item[1], settings)] = item[0]

        try:
            for _ in range(2 * threads):
                submit()
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    index = pending.pop(future)
                    submit()
                    yield index, future.result()
        finally:
            for future in pending:
                future.cancel()


def _computed_on_cluster(tasks: list[Any], client: Client) -> Iterator[tuple[int, Any]]:
    from distributed import as_completed

    todo = iter(enumerate(tasks))
    where: dict[Any, int] = {}

    def submit() -> Any:
        item = next(todo, None)
        if item is None:
            return None
        future = client.compute(item[1])
        where[future] = item[0]
        return future

    window = 2 * max(1, sum(client.nthreads().values()))
    running = as_completed([f for f in (submit() for _ in range(window)) if f is not None], loop=client.loop)
    for future in running:
        value = future.result()
        index = where.pop(future)
        future.release()
        following = submit()
        if following is not None:
            running.add(following)
        yield index, value


def _profile(data: xr.DataArray, nodata: float | None, blocksize: int) -> dict[str, Any]:
    """Georeferencing (affine or GCPs), nodata and scale/offset of `data` as a rasterio profile."""
    profile: dict[str, Any] = {
        "driver": "GTiff",
        "width": data.sizes["x"],
        "height": data.sizes["y"],
        "count": 1,
        "dtype": str(data.dtype),
        "crs": data.rio.crs,
        "nodata": nodata,
        "tiled": True,
        "blockxsize": blocksize,
        "blockysize": blocksize,
        "bigtiff": "IF_SAFER",
    }
    gcps = data.rio.get_gcps()
    if gcps:
        profile["gcps"] = gcps
    else:
        profile["transform"] = data.rio.transform(recalc=True)
    return profile


def write_tiled(
    data: xr.DataArray,
    path: Path,
    *,
    nodata: float | None,
    client: Client | None = None,
    settings: Settings | None = None,
) -> Path:
    """Compute a lazy array (`computed`) into an uncompressed tiled GTiff written here, each
    chunk written as it arrives."""
    settings = settings or get_settings()
    profile = _profile(data, nodata, settings.processing.cog_blocksize)
    values = data.data if isinstance(data.data, darr.Array) else darr.from_array(data.data)
    blocks = list(zip(slices_from_chunks(values.chunks), values.to_delayed().ravel(), strict=True))
    scale, offset = data.attrs.get("scale_factor"), data.attrs.get("add_offset")
    path.parent.mkdir(parents=True, exist_ok=True)
    with gdal_env(settings), rasterio.open(path, "w", **profile) as dst:
        if gcps := profile.get("gcps"):
            dst.gcps = (gcps, data.rio.crs)
        if scale is not None or offset is not None:
            dst.scales, dst.offsets = [float(scale or 1.0)], [float(offset or 0.0)]
        for index, value in computed([block for _, block in blocks], client=client, settings=settings):
            rows, cols = blocks[index][0]
            window = ((rows.start, rows.stop), (cols.start, cols.stop))
            dst.write(value.astype(dst.dtypes[0], copy=False), 1, window=window)
    return path


def overview_factors(width: int, height: int, blocksize: int) -> list[int]:
    """Halvings down to about one tile, like GDAL's COG driver picks them."""
    factors = []
    factor = 2
    while max(width, height) / (factor // 2) > blocksize:
        factors.append(factor)
        factor *= 2
    return factors


def add_overviews(path: Path, *, resampling: str = CONTINUOUS, settings: Settings | None = None) -> None:
    """Internal overviews of a local tiled GTiff, so the COG driver only has to copy and compress.

    GDAL computes them block by block from the uncompressed file in well under the time
    the COG driver takes to compute them itself (it then reuses them: OVERVIEWS=AUTO).
    """
    settings = settings or get_settings()
    with gdal_env(settings), rasterio.open(path, "r+") as dst:
        factors = overview_factors(dst.width, dst.height, settings.processing.cog_blocksize)
        if factors:
            dst.build_overviews(factors, Resampling[resampling.lower()])


def writer_for(data: xr.DataArray, settings: Settings) -> str:
    """The configured writer, "gdal" whenever the tiles writer cannot write `data`."""
    p = settings.processing
    return "tiles" if p.cog_writer == "tiles" and cog_tiles.supported(data, p.cog_compress) else "gdal"


@dataclass
class DeferredCog:
    """A COG written straight to its final URL that appears there only when its job commits
    it (`pending.commit()`), after every step succeeded (`processing.job`)."""

    url: str
    pending: storage.PendingWrite | None = None

    def hold(self, pending: storage.PendingWrite) -> None:
        if self.pending is not None:  # written again by a later step: the last one counts
            self.pending.discard()
        self.pending = pending


def write_cog(
    data: xr.DataArray,
    path: str | Path | DeferredCog,
    *,
    nodata: float | None,
    client: Client | None = None,
    resampling: str = CONTINUOUS,
    settings: Settings | None = None,
) -> str:
    """Compute `data` and store it as a COG at `path` (a local path, a storage URL, or a COG
    whose job commits it later), valid for rio-cogeo before it counts; returns its URL.

    The COG is written straight to its destination (`write_pending`) and appears there only
    once checked; a storage that cannot hold a write until it is committed gets a local COG
    uploaded.
    """
    settings = settings or get_settings()
    if isinstance(path, DeferredCog):
        path.hold(write_pending(data, path.url, nodata=nodata, client=client, resampling=resampling, settings=settings))
        return path.url
    target = str(path)
    if storage.holds_pending(target):
        pending = write_pending(data, target, nodata=nodata, client=client, resampling=resampling, settings=settings)
        return pending.commit()
    with tempfile.TemporaryDirectory(prefix="cog-", dir=settings.processing.scratch_dir) as tmp:
        cog = _write_local(data, Path(tmp), nodata=nodata, client=client, resampling=resampling, settings=settings)
        validate_cog(cog, settings=settings, name=storage.basename(target))
        storage.put_file(cog, target, settings=settings)
    return target


def write_pending(
    data: xr.DataArray,
    url: str,
    *,
    nodata: float | None,
    client: Client | None = None,
    resampling: str = CONTINUOUS,
    settings: Settings | None = None,
) -> storage.PendingWrite:
    """Write `data` as a COG to `url`, checked by rio-cogeo but not yet visible there.

    With the tiles writer the COG goes to its destination as it is laid out (on S3/GCS the
    parts of an upload that is completed only by `commit`): no local COG, no upload after.
    rio-cogeo checks the written file itself on a file system, and on an object store a
    local replica of its header and IFDs (every byte it reads: tiles are never read). The
    "gdal" writer's COG is made in the scratch folder, checked, then copied there.
    """
    settings = settings or get_settings()
    pending = storage.PendingWrite(url, settings=settings)
    name = storage.basename(url)
    try:
        with tempfile.TemporaryDirectory(prefix="cog-", dir=settings.processing.scratch_dir) as tmp:
            scratch = Path(tmp)
            if writer_for(data, settings) == "tiles":
                layout = _write_from_tiles(data, pending.handle, scratch, nodata=nodata, client=client,
                                           resampling=resampling, settings=settings)  # fmt: skip
                pending.handle.flush()
                written = pending.local_file or layout.replica(scratch / "replica.tif")
                validate_cog(written, settings=settings, name=name)
            else:
                cog = _write_local(data, scratch, nodata=nodata, client=client, resampling=resampling,
                                   settings=settings)  # fmt: skip
                validate_cog(cog, settings=settings, name=name)
                with cog.open("rb") as source:
                    shutil.copyfileobj(source, pending.handle, 16 * 2**20)
    except BaseException:
        pending.discard()
        raise
    return pending


def _write_local(
    data: xr.DataArray, scratch: Path, *, nodata: float | None, client: Client | None, resampling: str,
    settings: Settings,
) -> Path:  # fmt: skip
    """A COG in `scratch`, by the configured writer."""
    cog = scratch / "cog.tif"
    if writer_for(data, settings) == "tiles":
        with cog.open("wb") as out:
            _write_from_tiles(data, out, scratch, nodata=nodata, client=client, resampling=resampling,
                              settings=settings)  # fmt: skip
        return cog
    tiled = scratch / "tiled.tif"
    write_tiled(data, tiled, nodata=nodata, client=client, settings=settings)
    add_overviews(tiled, resampling=resampling, settings=settings)
    to_cog(tiled, cog, resampling=resampling, settings=settings)
    tiled.unlink()
    return cog


def _write_from_tiles(
    data: xr.DataArray,
    out: IO[bytes],
    scratch: Path,
    *,
    nodata: float | None,
    client: Client | None,
    resampling: str,
    settings: Settings,
) -> cog_tiles.Layout:
    """The COG laid out from tiles compressed by the chunks' own tasks (`cog_tiles`)."""
    p = settings.processing
    profile = _profile(data, nodata, p.cog_blocksize)
    factors = overview_factors(profile["width"], profile["height"], p.cog_blocksize)
    return cog_tiles.write_cog_tiles(
        data,
        out,
        scratch=scratch,
        nodata=nodata,
        resampling=resampling,
        profile=profile,
        compress=p.cog_compress,
        compute=lambda tasks: computed(tasks, client=client, settings=settings),
        gdal_env=lambda: gdal_env(settings),
        overview_factors=factors,
    )


def cog_problems(path: str | Path, settings: Settings | None = None) -> list[str]:
    """Why `path` is not a COG we hand on: rio-cogeo's errors, missing overviews or compression."""
    settings = settings or get_settings()
    try:
        valid, errors, _warnings = cog_validate(str(path), quiet=True)
    except Exception as exc:  # rio-cogeo raises on files GDAL cannot open
        return [f"cannot be read: {exc}"]
    problems = list(errors)
    with rasterio.open(path) as src:
        if max(src.width, src.height) > settings.processing.cog_blocksize and not src.overviews(1):
            problems.append("no internal overviews")
        if src.profile.get("compress") is None:
            problems.append("not compressed")
        if not src.profile.get("tiled", False) and max(src.width, src.height) > 512:
            problems.append("not tiled")
    if not valid and not problems:
        problems.append("rio-cogeo says invalid")
    return problems


def validate_cog(path: Path, settings: Settings | None = None, name: str | None = None) -> None:
    problems = cog_problems(path, settings)
    if problems:
        raise FatalError(f"{name or path.name} is not a valid COG: {'; '.join(problems)}")


def ensure_cog(path: Path, *, resampling: str = CONTINUOUS, settings: Settings | None = None) -> Path:
    """Make a GeoTIFF written by any step a valid COG (in place), then check it."""
    settings = settings or get_settings()
    if cog_problems(path, settings):
        log.info("converting %s to a COG", path.name)
        converted = path.with_name(f".{path.name}.cog.tif")
        try:
            to_cog(path, converted, resampling=resampling, settings=settings)
            converted.replace(path)
        finally:
            converted.unlink(missing_ok=True)
    validate_cog(path, settings)
    return path


def nodata_for(dtype: str, nodata: float) -> float | None:
    """GDAL cannot store NaN nodata in integer files."""
    if math.isnan(nodata) and not dtype.startswith(("float", "complex")):
        return None
    return nodata
