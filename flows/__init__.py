"""Prefect 3 flows of geocube-ingest: thin drivers over `geocube_ingest.pipeline`.

- `ingest-aoi`   (flows/ingest.py): payload → catalogue → records → workflow → downloads → processing → index
- `list-scenes`, `list-tiles` (flows/catalog.py): steps 1-2 only, results as artifacts
- `retry-aoi`    (flows/retry.py): retry an AOI's RETRY work and run it
- `download-worker`, `process-worker` (flows/workers.py): long-running workers claiming leases
  from the workflow database, for separate work pools and machines

The workflow database is the source of truth for downloads and tiles: their batches never
retry nor cache on their own, and every status comes from the workflow's rules. The steps
before them (flows/steps.py: search, posting; the STAC collection) are idempotent and retry
as Prefect tasks after a temporary error.
"""
