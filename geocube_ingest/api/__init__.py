"""The REST API and web page of the workflow (FastAPI); start it with `geocube-ingest serve`."""

from geocube_ingest.api.app import create_app

__all__ = ["create_app"]
