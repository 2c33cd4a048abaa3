from geocube_ingest.migrations.env_common import run
from geocube_ingest.workflow.tables import WorkflowBase

run(WorkflowBase.metadata)
