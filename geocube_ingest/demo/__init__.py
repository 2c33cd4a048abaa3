"""`geocube-ingest demo`: the main job, offline, on a small local catalogue of real acquisitions."""
