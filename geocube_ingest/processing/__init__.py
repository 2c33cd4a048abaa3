"""Step 5 of the pipeline: processing graphs (upstream's JSON) on xarray/Dask, COG outputs.

Entry points: `run_scene_graph` (download job), `process_tile` (processing job; both run
on the Dask cluster or here, see `processing.job` for what runs on a worker),
`get_client` (the Dask cluster), `load_graph` / `check_graph` (graphs by name, or by the
paths and URLs `graphs.allowed_sources` allows), `admission.admit_graphs` (the check at
submission).
"""

from geocube_ingest.processing.cluster import get_client
from geocube_ingest.processing.graph import Graph, GraphError, LoadedGraph, list_graphs, load_graph, parse_graph
from geocube_ingest.processing.outputs import ProcessResult
from geocube_ingest.processing.submit import process_tile, run_scene_graph
from geocube_ingest.processing.validate import Problem, check_graph, validate_graph

__all__ = [
    "Graph",
    "GraphError",
    "LoadedGraph",
    "Problem",
    "ProcessResult",
    "check_graph",
    "get_client",
    "list_graphs",
    "load_graph",
    "parse_graph",
    "process_tile",
    "run_scene_graph",
    "validate_graph",
]
