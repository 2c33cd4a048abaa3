"""Step 4: download each scene once from the first provider that has it, then run its scene graph."""

from geocube_ingest.download.job import download_scene, fetch_product, prepare_product, scene_work_dir

__all__ = ["download_scene", "fetch_product", "prepare_product", "scene_work_dir"]
