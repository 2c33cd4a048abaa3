"""The provider interface: one class per source of products, tried in the configured order.

A provider answers one of four things for a product: found (here is the local path),
not found (try the next provider), temporary (it may work later: network, 429, 5xx,
product offline) or fatal (this provider cannot deliver it as configured: credentials
refused, corrupt product...). `fetch` raises; `download` turns that into a result and
never lets a secret through in the message.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from geocube_ingest.download.redact import Redactor
from geocube_ingest.errors import FatalError, GeocubeIngestError, RetriableError, TaskError, TemporaryError
from geocube_ingest.settings import DownloadProviderSettings, Settings

if TYPE_CHECKING:
    from geocube_ingest.workflow import Scene

log = logging.getLogger(__name__)

Progress = Callable[[int, int | None], None]
"""Called with (bytes done, bytes expected or None) while a product is transferred."""


class ProductNotFound(GeocubeIngestError):
    """This provider does not have the product: the next one is tried."""

    http_status = 404


@dataclass(frozen=True, slots=True)
class ProductRequest:
    """What providers need to find one scene's product."""

    scene_id: int
    source_id: str
    uuid: str = ""
    date: datetime | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_scene(cls, scene: Scene) -> ProductRequest:
        data = scene.data or {}
        metadata = data.get("metadata") or {}
        return cls(
            scene_id=scene.id,
            source_id=scene.source_id,
            uuid=str(data.get("uuid") or metadata.get("uuid") or ""),
            date=scene.date,
            metadata=dict(metadata) if isinstance(metadata, dict) else {},
        )

    @property
    def product_name(self) -> str:
        """The product's name without `.SAFE` / `.zip` (catalogues differ on this)."""
        name = self.source_id
        for suffix in (".zip", ".SAFE", ".safe"):
            if name.endswith(suffix):
                name = name[: -len(suffix)]
        return name


class ResultKind(StrEnum):
    FOUND = "found"
    NOT_FOUND = "not found"
    TEMPORARY = "temporary"
    FATAL = "fatal"


@dataclass(frozen=True, slots=True)
class ProviderResult:
    provider: str
    kind: ResultKind
    path: Path | None = None
    message: str = ""
    error: TaskError | None = None
    size: int | None = None

    @classmethod
    def found(cls, provider: str, path: Path, size: int | None = None) -> ProviderResult:
        return cls(provider, ResultKind.FOUND, path=path, size=size)

    @classmethod
    def not_found(cls, provider: str, message: str) -> ProviderResult:
        return cls(provider, ResultKind.NOT_FOUND, message=message)

    @classmethod
    def temporary(cls, provider: str, message: str, retry_after: float | None = None) -> ProviderResult:
        return cls(provider, ResultKind.TEMPORARY, message=message, error=TemporaryError(message, retry_after))

    @classmethod
    def fatal(cls, provider: str, message: str, error: TaskError | None = None) -> ProviderResult:
        return cls(provider, ResultKind.FATAL, message=message, error=error or FatalError(message))


class Provider(ABC):
    """One source of products. Subclasses set `kind` and implement `fetch`."""

    kind: ClassVar[str]

    def __init__(self, config: DownloadProviderSettings, settings: Settings):
        self.config = config
        self.settings = settings
        self.redactor = Redactor.from_provider(config)

    @property
    def name(self) -> str:
        return self.config.name

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"

    @abstractmethod
    def fetch(self, request: ProductRequest, destination: Path, progress: Progress | None = None) -> Path:
        """Bring the product into `destination` (an empty folder) and return its path.

        The path is a file (an archive, a raster...) or a folder (a `.SAFE` tree). A
        provider may return a path outside `destination` when the product is already
        on a local disk: it is then only read, never changed.
        Raises ProductNotFound, TemporaryError, RetriableError or FatalError.
        """

    def close(self) -> None:  # noqa: B027 (optional hook)
        """Release connections."""

    def download(self, request: ProductRequest, destination: Path, progress: Progress | None = None) -> ProviderResult:
        """`fetch` with every failure turned into a result whose message holds no secret."""
        clean = self.redactor.clean
        try:
            path = self.fetch(request, destination, progress)
        except ProductNotFound as exc:
            return ProviderResult.not_found(self.name, clean(str(exc)))
        except TemporaryError as exc:
            return ProviderResult.temporary(self.name, clean(str(exc)), exc.retry_after)
        except (FatalError, RetriableError) as exc:
            message = clean(str(exc))
            return ProviderResult.fatal(self.name, message, type(exc)(message))
        except GeocubeIngestError as exc:
            message = clean(str(exc))
            return ProviderResult.fatal(self.name, message, FatalError(message))
        except PermissionError as exc:  # retrying will not change permissions
            message = clean(f"access refused: {exc}")
            return ProviderResult.fatal(self.name, message, FatalError(message))
        except OSError as exc:  # disk full, connection reset below the HTTP layer...
            return ProviderResult.temporary(self.name, clean(f"{type(exc).__name__}: {exc}"))
        except Exception as exc:
            message = clean(f"unexpected {type(exc).__name__}: {exc}")
            log.error("provider %s failed on %s: %s", self.name, request.source_id, message)
            return ProviderResult.fatal(self.name, message, RetriableError(message))
        return ProviderResult.found(self.name, path, _size_of(path))


def _size_of(path: Path) -> int | None:
    try:
        if path.is_file():
            return path.stat().st_size
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    except OSError:
        return None
