from geocube_ingest.index.tables import IndexBase
from geocube_ingest.migrations.env_common import run

run(IndexBase.metadata)
