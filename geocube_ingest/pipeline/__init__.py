"""The main job as a whole: a payload in, indexed layers out (seeds/run-a-payload.md, SPEC section 9).

`ingest(payload)` runs it in this process. The pieces are separate so orchestrators can
place them: `prepare_ingestion` (catalogue → records → workflow), `download_batch` and
`process_batch` (work batches claimed with leases, runnable anywhere), `drain` (starts
batches while work is due, on any `Runner`: ingestions and long-running workers alike),
`recover` (leases of dead local workers), `give_back_mine` (everything this process holds,
when it stops).
"""

from geocube_ingest.pipeline.drain import DrainReport, Runner, ThreadRunner, drain
from geocube_ingest.pipeline.prepare import Prepared, prepare_ingestion
from geocube_ingest.pipeline.run import IngestReport, ingest, publish, run_workers, thread_runner
from geocube_ingest.pipeline.workers import BatchResult, download_batch, give_back_mine, process_batch, recover
from geocube_ingest.workflow.owners import owner_id

__all__ = [
    "BatchResult",
    "DrainReport",
    "IngestReport",
    "Prepared",
    "Runner",
    "ThreadRunner",
    "download_batch",
    "drain",
    "give_back_mine",
    "ingest",
    "owner_id",
    "prepare_ingestion",
    "process_batch",
    "publish",
    "recover",
    "run_workers",
    "thread_runner",
]
