from tests.storage.servers import gcs_server, s3_server

__all__ = ["gcs_server", "s3_server"]
