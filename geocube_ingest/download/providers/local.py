"""Products already on a disk or a bucket: `<root>/YYYY/MM/DD/<scene>.zip`, `<root>/<scene>.zip`,
`<root>/<scene>.SAFE` (upstream's layout plus the flat ones).

`path` is any fsspec URL. On a local disk the product is used where it is (only read);
elsewhere it is copied into the job's folder first. The scene's name and uuid are input: they
must be plain names, and on a local disk the product found must resolve inside the root
(a symbolic link leading out of it is refused).
"""

from __future__ import annotations

from pathlib import Path

from fsspec.implementations.local import LocalFileSystem

from geocube_ingest import storage
from geocube_ingest.access import NotAllowed, check_source_name, is_below, local_path
from geocube_ingest.download.copy import copy_url
from geocube_ingest.download.providers.base import ProductNotFound, ProductRequest, Progress, Provider
from geocube_ingest.errors import InvalidInput

DEFAULT_PATTERNS = (
    "{yyyy}/{mm}/{dd}/{name}.zip",
    "{yyyy}/{mm}/{dd}/{name}.SAFE",
    "{name}.zip",
    "{name}.SAFE",
    "{name}",
)


class LocalProvider(Provider):
    """Options: `patterns` (list of paths under the root with {yyyy} {mm} {dd} {name} {uuid})."""

    kind = "local"

    @property
    def root(self) -> str:
        if not self.config.path:
            raise InvalidInput(f"download provider {self.name!r} (local) needs a `path`")
        return self.config.path

    def candidates(self, request: ProductRequest) -> list[str]:
        patterns = self.config.options.get("patterns") or DEFAULT_PATTERNS
        name = check_source_name(request.product_name)
        uuid = check_source_name(request.uuid, "uuid") if request.uuid else ""
        values = {"name": name, "uuid": uuid, "yyyy": "", "mm": "", "dd": ""}
        if request.date is not None:
            values.update(yyyy=f"{request.date:%Y}", mm=f"{request.date:%m}", dd=f"{request.date:%d}")
        found = []
        for pattern in patterns:
            needs_date = any(f"{{{k}}}" in pattern for k in ("yyyy", "mm", "dd"))
            if (needs_date and request.date is None) or ("{uuid}" in pattern and not request.uuid):
                continue
            try:
                found.append(storage.join(self.root, pattern.format(**values)))
            except (KeyError, IndexError, ValueError) as exc:
                raise InvalidInput(f"download provider {self.name!r}: bad pattern {pattern!r} ({exc})") from None
        return found

    def fetch(self, request: ProductRequest, destination: Path, progress: Progress | None = None) -> Path:
        tried = self.candidates(request)
        for url in tried:
            fs, path = storage.filesystem(url, settings=self.settings)
            fs.invalidate_cache(path)
            if not fs.exists(path):
                continue
            if isinstance(fs, LocalFileSystem):
                local = self._inside_root(path)
                if progress is not None and local.is_file():
                    size = local.stat().st_size
                    progress(size, size)
                return local
            return self._copy(url, destination, progress)
        raise ProductNotFound(f"{request.product_name} is not under {storage.basename(self.root) or self.root}")

    def _inside_root(self, path: str) -> Path:
        resolved = local_path(path)
        if not is_below(resolved, local_path(self.root)):
            raise NotAllowed(f"{storage.basename(path)}: not allowed (it leads out of the provider's folder)")
        return Path(path)

    def _copy(self, url: str, destination: Path, progress: Progress | None) -> Path:
        return copy_url(url, destination / storage.basename(url), settings=self.settings, progress=progress)
