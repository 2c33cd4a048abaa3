"""The Dask cluster raster steps run on.

A `distributed.LocalCluster` by default, or any scheduler address from settings to scale
out (dask-jobqueue, dask-kubernetes, Coiled...). A client is created once per process and
per cluster configuration. With a scheduler, whole jobs are tasks (`processing.submit`);
inside a job on a worker, chunked steps compute on a cluster of that worker's threads
(`processing.job.job_settings`), since the job's files are in its scratch folder.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass

from distributed import Client, LocalCluster

from geocube_ingest.settings import ProcessingSettings, Settings, get_settings

log = logging.getLogger(__name__)
LOOPBACK_ANY_PORT = "127.0.0.1:0"


@dataclass
class _Entry:
    pid: int
    client: Client
    cluster: LocalCluster | None


_entries: dict[tuple[object, ...], _Entry] = {}
_lock = threading.Lock()


def _key(p: ProcessingSettings) -> tuple[object, ...]:
    return (
        p.dask_scheduler,
        p.n_workers,
        p.threads_per_worker,
        p.processes,
        p.memory_limit,
        p.adapt_minimum,
        p.adapt_maximum,
    )


def _start(p: ProcessingSettings) -> _Entry:
    if p.dask_scheduler:
        log.info("connecting to the Dask scheduler at %s", p.dask_scheduler)
        return _Entry(os.getpid(), Client(p.dask_scheduler, set_as_default=False), None)
    # Worker processes inherit the environment: bound GDAL's block cache there too.
    os.environ.setdefault("GDAL_CACHEMAX", str(p.gdal_cache_mb))
    cores = os.cpu_count() or 1
    if p.processes:
        n_workers = p.n_workers or cores
        threads = p.threads_per_worker or 1
    else:
        n_workers = p.n_workers or 1
        threads = p.threads_per_worker or cores
    if not log.isEnabledFor(logging.DEBUG):  # recent distributed no longer quiets its start-up report
        logging.getLogger("distributed").setLevel(logging.WARNING)
    cluster = LocalCluster(
        n_workers=n_workers,
        threads_per_worker=threads,
        processes=p.processes,
        memory_limit=p.memory_limit or "auto",
        # No dashboard; the scheduler's HTTP routes (health) on a free loopback port: with None it still
        # tries 8787 and warns when another cluster holds it.
        dashboard_address=LOOPBACK_ANY_PORT,
        scheduler_kwargs={"dashboard": False},
        silence_logs=logging.ERROR,
    )
    if p.adapt_minimum is not None or p.adapt_maximum is not None:
        cluster.adapt(minimum=p.adapt_minimum or 0, maximum=p.adapt_maximum or n_workers)
    log.info("started a LocalCluster: %d workers x %d threads (processes=%s)", n_workers, threads, p.processes)
    return _Entry(os.getpid(), Client(cluster, set_as_default=False), cluster)


def get_client(settings: Settings | None = None) -> Client:
    """The client of the configured cluster, started on first use in this process."""
    processing = (settings or get_settings()).processing
    return _cached(_key(processing), lambda: _start(processing))


def _cached(key: tuple[object, ...], start: Callable[[], _Entry]) -> Client:
    with _lock:
        entry = _entries.get(key)
        if entry is not None and (entry.pid != os.getpid() or entry.client.status != "running"):
            # A forked child or a lost cluster: never reuse another process's client.
            _entries.pop(key, None)
            entry = None
        if entry is None:
            entry = start()
            _entries[key] = entry
        return entry.client


def close_client(settings: Settings | None = None) -> None:
    """Close the client (and LocalCluster) of one configuration, if this process started it."""
    settings = settings or get_settings()
    with _lock:
        entry = _entries.pop(_key(settings.processing), None)
    if entry is not None and entry.pid == os.getpid():
        _close(entry)


def _close(entry: _Entry) -> None:
    try:
        entry.client.close()
        if entry.cluster is not None:
            entry.cluster.close()
    except Exception:  # closing must never raise
        log.debug("error while closing a Dask client", exc_info=True)


def close_clients() -> None:
    """Close every client (and LocalCluster) this process started."""
    with _lock:
        entries = [e for e in _entries.values() if e.pid == os.getpid()]
        _entries.clear()
    for entry in entries:
        _close(entry)


def _close_at_exit() -> None:
    # At exit, other libraries' log handlers (Prefect's) may already be closed: Dask's
    # shutdown chatter would only print "Logging error" tracebacks.
    logging.getLogger("distributed").setLevel(logging.CRITICAL)
    close_clients()


atexit.register(_close_at_exit)
