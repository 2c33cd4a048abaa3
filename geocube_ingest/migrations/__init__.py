"""Alembic histories, one folder per component (see `geocube_ingest.database.migrate`)."""
