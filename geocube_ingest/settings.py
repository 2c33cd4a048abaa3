"""All configuration, in one place.

Values come from (highest first): keyword arguments, environment variables prefixed
`GEOCUBE_INGEST_` (nested sections with `__`, e.g. `GEOCUBE_INGEST_API__TOKEN`), a TOML
file (`GEOCUBE_INGEST_CONFIG`, or `config.toml` in the home directory), then defaults.
Secrets are `SecretStr`: they never show in reprs, logs or error messages.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from geocube_ingest.errors import InvalidInput

ENV_PREFIX = "GEOCUBE_INGEST_"


def default_home() -> Path:
    """The data directory: `GEOCUBE_INGEST_HOME`, else `~/.geocube-ingest`."""
    env = os.environ.get(f"{ENV_PREFIX}HOME")
    return Path(env).expanduser() if env else Path.home() / ".geocube-ingest"


class SettingsError(InvalidInput):
    """Settings that cannot be loaded: the message names the key, its section and where it came from."""


class _Section(BaseModel):
    """A settings section: a misspelt key is an error, not a silently ignored line."""

    model_config = ConfigDict(extra="forbid")


class _Credentials(_Section):
    """A provider's credentials: given here (kept secret), or read from environment variables named here.

    The `*_env` variables are read when the settings are loaded, so every consumer of the
    secret fields (authentication, redaction of logs) sees the same value.
    """

    username: str | None = None
    password: SecretStr | None = None
    token: SecretStr | None = Field(default=None, description="Sent as a bearer token.")
    password_env: str | None = Field(default=None, description="Environment variable holding the password.")
    token_env: str | None = Field(default=None, description="Environment variable holding the bearer token.")

    @model_validator(mode="after")
    def _secrets_from_environment(self) -> Self:
        for secret, variable in (("password", self.password_env), ("token", self.token_env)):
            value = os.environ.get(variable) if variable else None
            if getattr(self, secret) is None and value:
                setattr(self, secret, SecretStr(value))
        return self

    def missing_secret(self, secret: Literal["password", "token"]) -> str:
        """Why a needed secret is absent, for the error of the provider that needs it."""
        variable = self.password_env if secret == "password" else self.token_env
        if variable:
            return f"the environment variable {variable} ({secret}_env) is not set"
        return f"set {secret} or {secret}_env"


class WorkflowSettings(_Section):
    lease_seconds: float = Field(
        default=60.0,
        gt=0,
        description="How long a claimed task (or a download provider slot) stays held without a heartbeat; "
        "holders beat every third of it, so a dead worker's work comes back within this time.",
    )
    temporary_retry_delay_seconds: float = Field(
        default=60.0,
        ge=0,
        description="How long a task given back after a temporary error waits before it can be claimed again.",
    )
    claim_batch: int = Field(default=50, ge=1, description="How many tasks a worker claims at once.")
    max_temporary_attempts: int = Field(
        default=10,
        ge=1,
        description="Temporary failures in a row after which a task counts as failed: against its "
        "retry_count, then RETRY (or FAILED when the payload is not retriable).",
    )
    max_temporary_seconds: float = Field(
        default=3600.0,
        gt=0,
        description="Same bound in time: since the first temporary failure in a row.",
    )


# Catalogue presets: name -> (kind, url). Their collection mappings live in geocube_ingest/catalogue/providers.
CATALOGUE_PRESETS: dict[str, tuple[str, str]] = {
    "cdse-odata": ("cdse-odata", "https://catalogue.dataspace.copernicus.eu/odata/v1"),
    "earth-search": ("stac", "https://earth-search.aws.element84.com/v1"),
    "planetary-computer": ("stac", "https://planetarycomputer.microsoft.com/api/stac/v1"),
    "cdse-stac": ("stac", "https://stac.dataspace.copernicus.eu/v1"),
    "usgs-landsat": ("stac", "https://landsatlook.usgs.gov/stac-server"),
}
# Upstream's default (Copernicus Data Space for S1 SLC / S2 L1C) first, then the STAC APIs.
DEFAULT_CATALOGUE_ORDER = ("cdse-odata", "earth-search", "planetary-computer", "cdse-stac", "usgs-landsat")


class CatalogueProviderSettings(_Credentials):
    """One search provider: a `preset`, or a `kind` (stac, stac-static, cdse-odata) with a `url`.

    A preset fills `kind`, `url` and `name`; anything given explicitly wins. Credentials come
    from `token`/`password` (settings or environment, kept secret) or from the environment
    variables named by `token_env`/`password_env`.
    """

    name: str = Field(default="", description="Unique name in messages (default: the preset or the kind).")
    preset: str | None = Field(default=None, description=f"One of {', '.join(CATALOGUE_PRESETS)}.")
    kind: str = Field(default="", description="stac (any STAC API), stac-static (a STAC file or catalog), cdse-odata.")
    url: str = Field(default="", description="API root, or the static catalog / ItemCollection URL.")
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="Provider options: collections {CONSTELLATION: {product type: collection}}, "
        "filter_mode (query, filter, none), queryables, page_size.",
    )
    timeout_seconds: float | None = Field(default=None, gt=0, description="Overrides catalogue.timeout_seconds.")

    @model_validator(mode="after")
    def _fill_from_preset(self) -> CatalogueProviderSettings:
        if self.preset is not None:
            if self.preset not in CATALOGUE_PRESETS:
                raise ValueError(f"unknown preset {self.preset!r} (known: {', '.join(CATALOGUE_PRESETS)})")
            kind, url = CATALOGUE_PRESETS[self.preset]
            self.kind = self.kind or kind
            self.url = self.url or url
        if not self.kind:
            raise ValueError("give a preset or a kind")
        if not self.url:
            raise ValueError(f"provider {self.name or self.kind!r} needs a url")
        self.name = self.name or self.preset or self.kind
        return self


def _default_catalogue_providers() -> list[CatalogueProviderSettings]:
    return [CatalogueProviderSettings(preset=name) for name in DEFAULT_CATALOGUE_ORDER]


class CatalogueSettings(_Section):
    providers: list[CatalogueProviderSettings] = Field(
        default_factory=_default_catalogue_providers,
        description="Search providers, tried in order until one answers (default: the presets, CDSE OData first).",
    )
    timeout_seconds: float = Field(default=60.0, gt=0, description="Timeout of one catalogue request.")
    connect_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="Connecting to a catalogue: a host that drops connections is left after this (at most timeout).",
    )
    max_retries: int = Field(default=3, ge=0, description="Retries of a request answered 429/5xx or cut off.")
    backoff_seconds: float = Field(default=1.0, ge=0, description="Back-off before a retry; doubled each time.")
    backoff_max_seconds: float = Field(default=30.0, ge=0, description="Longest back-off (Retry-After included).")
    page_size: int = Field(default=100, ge=1, le=1000, description="Results per request when listing everything.")
    annotation_block_bytes: int = Field(
        default=512 * 1024, ge=4096, description="Range-read size when reading annotations out of a remote zip."
    )
    annotation_workers: int = Field(default=8, ge=1, description="Scenes whose annotations are read at once.")

    @model_validator(mode="after")
    def _unique_names(self) -> CatalogueSettings:
        names = [p.name for p in self.providers]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"catalogue provider names must be unique: {', '.join(duplicates)}")
        return self


class DownloadProviderSettings(_Credentials):
    """One download provider, tried in the configured order; `kind` selects the implementation.

    Credentials: `username` with `password` (or `password_env`), or `token` (or `token_env`).

    Kinds (see geocube_ingest/download/providers): `local` (`path`: a folder of products),
    `url` (the scene's download_link or STAC asset hrefs), `cdse` (Copernicus Data Space
    OData with an OIDC token), `asf` (Alaska Satellite Facility with a bearer token).
    """

    name: str = Field(description="Unique name, used in messages and for the concurrency limit.")
    kind: str = Field(description="local, url, cdse or asf.")
    url: str | None = Field(default=None, description="Base URL of the service (cdse: OData catalogue; asf: datapool).")
    download_url: str | None = Field(
        default=None, description="cdse: base URL of the OData download service (defaults to `url`)."
    )
    token_url: str | None = Field(default=None, description="cdse: OIDC token endpoint (password grant).")
    client_id: str | None = Field(default=None, description="cdse: OIDC client id (CDSE: `cdse-public`).")
    path: str | None = Field(default=None, description="local: root folder (any fsspec URL) holding the products.")
    options: dict[str, Any] = Field(default_factory=dict, description="Provider-specific options.")
    auth_domains: list[str] = Field(
        default_factory=list,
        description="Redirects to these domains (and their subdomains) keep the Authorization header.",
    )
    max_concurrency: int = Field(
        default=4,
        ge=1,
        description="Downloads from this provider at once, per provider account: across every process and machine "
        "sharing the workflow database (providers are told apart by `name`).",
    )
    timeout_seconds: float | None = Field(default=None, gt=0, description="Overrides download.timeout_seconds.")


def _default_download_providers() -> list[DownloadProviderSettings]:
    return [DownloadProviderSettings(name="url", kind="url")]


class DownloadSettings(_Section):
    providers: list[DownloadProviderSettings] = Field(
        default_factory=_default_download_providers,
        description="Tried in order until one has the product (default: the scene's own links).",
    )
    timeout_seconds: float = Field(default=300.0, gt=0, description="Read timeout of one HTTP request.")
    connect_timeout_seconds: float = Field(default=30.0, gt=0)
    max_retries: int = Field(default=3, ge=0, description="Retries of one request after a temporary error.")
    backoff_seconds: float = Field(default=2.0, ge=0, description="First back-off delay; doubled at each retry.")
    backoff_max_seconds: float = Field(default=120.0, ge=0, description="Longest back-off delay (Retry-After too).")
    chunk_bytes: int = Field(default=1024 * 1024, ge=1024, description="Streaming chunk size.")
    max_unpacked_bytes: int = Field(default=200 * 1024**3, ge=1, description="Guard against archive bombs.")
    max_archive_members: int = Field(default=1_000_000, ge=1, description="Guard against archive bombs.")
    keep_work_dir: bool = Field(default=False, description="Keep the work directory of a job (debugging only).")


class S3Settings(_Section):
    endpoint_url: str | None = Field(default=None, description="S3-compatible endpoint (MinIO, moto, OVH...).")
    region: str | None = None
    access_key_id: SecretStr | None = None
    secret_access_key: SecretStr | None = None
    session_token: SecretStr | None = None
    anonymous: bool = False


class GCSSettings(_Section):
    endpoint_url: str | None = Field(default=None, description="Custom endpoint (an emulator, a gateway).")
    project: str | None = None
    token: str | None = Field(
        default=None, description="gcsfs token: 'anon', 'google_default', or a credentials file path."
    )


class ProcessingSettings(_Section):
    graph_dirs: list[Path] = Field(
        default_factory=list, description="Extra folders searched for graphs (and their scripts) by name, first."
    )
    dask_scheduler: str | None = Field(
        default=None, description="Address of a distributed scheduler; a LocalCluster when unset."
    )
    n_workers: int | None = Field(default=None, ge=1, description="LocalCluster workers (default: one per core).")
    threads_per_worker: int | None = Field(default=None, ge=1)
    processes: bool = Field(
        default=True, description="LocalCluster workers are processes (True) or threads of this process (False)."
    )
    memory_limit: str | None = Field(
        default=None, description="Per-worker memory limit of the LocalCluster, e.g. '4GiB'."
    )
    adapt_minimum: int | None = Field(default=None, ge=0, description="Adaptive scaling: fewest workers.")
    adapt_maximum: int | None = Field(default=None, ge=1, description="Adaptive scaling: most workers.")
    chunk_size: int = Field(default=2048, ge=256, description="Raster chunk edge in pixels.")
    gdal_cache_mb: int = Field(
        default=128, ge=16, description="GDAL block cache per process; bounds memory whatever the raster size."
    )
    cog_compress: str = Field(default="DEFLATE", description="COG compression (DEFLATE, ZSTD, LZW, LERC...).")
    cog_blocksize: int = Field(default=512, ge=64, description="COG tile edge in pixels.")
    cog_writer: Literal["tiles", "gdal"] = Field(
        default="tiles",
        description="'tiles': each chunk's task also compresses its COG tiles and overviews, and the COG is laid out "
        "from them front to back, streamed straight to S3/GCS (DEFLATE, ZSTD, LZW, one band; others use 'gdal'); "
        "'gdal': chunks written to a tiled GTiff, then GDAL's COG driver on every core, and uploaded "
        "(bench/processing.py; docs/cluster.md).",
    )
    snap_gpt: str = Field(default="gpt", description="SNAP Graph Processing Tool run by steps of engine 'snap'.")
    command_timeout_seconds: float | None = Field(
        default=None, gt=0, description="Kill a python/cmd/snap step after this long (a temporary error)."
    )
    keep_work_dir: bool = Field(default=False, description="Keep each job's scratch folder (debugging).")
    jobs_on_cluster: bool | None = Field(
        default=None,
        description="Run each tile and scene job as one task on the Dask cluster (its worker imports inputs from "
        "storage and stores outputs there) rather than in the orchestrating process. Default: when "
        "`dask_scheduler` is set.",
    )
    scratch_dir: Path | None = Field(
        default=None,
        description="Where jobs running on a Dask worker make their scratch folders, read on the worker "
        "(default: the system's temporary folder).",
    )
    dem_url: str | None = Field(
        default=None,
        description="DEM (a GeoTIFF/COG URL or path, read under the security rules) used by SAR steps "
        "whose graph config gives no `dem_url`; heights above the EGM96 geoid unless `dem_geoid` says 'none'.",
    )
    dem_geoid: str = Field(
        default="EGM96", description="Vertical datum of `dem_url`: 'EGM96' (converted to ellipsoidal) or 'none'."
    )

    @property
    def cluster_jobs(self) -> bool:
        """Jobs run as tasks on the cluster (`jobs_on_cluster`, by default when a scheduler is set)."""
        return bool(self.dask_scheduler) if self.jobs_on_cluster is None else self.jobs_on_cluster


class GraphSettings(_Section):
    """What graphs may be run and what their steps may call: the operator's allow-lists.

    Payloads, scenes/tiles files and `PUT .../data` name graphs of the library and of
    `processing.graph_dirs` only; anything else must be allowed here.
    """

    allowed_sources: list[str] = Field(
        default_factory=list,
        description="Graph paths and URLs input may name besides library names: absolute folders (a graph "
        "file below one), URL prefixes (`https://graphs.example.com/`, `s3://bucket/graphs/`), or `data:` for "
        "inline graphs. Empty: names only.",
    )
    allowed_programs: list[str] = Field(
        default_factory=list,
        description="Programs of `cmd` steps looked up on PATH by name (or given as absolute paths). Programs "
        "inside the graph folders need no entry.",
    )
    python_modules: list[str] = Field(
        default_factory=list,
        description="Modules whose functions `python` steps may call (`package.module:function`); an entry "
        "allows the module and its submodules. Scripts inside the graph folders need no entry.",
    )


class DockerSettings(_Section):
    """How `docker` steps run: the docker CLI (or a compatible one such as podman)."""

    command: list[str] = Field(
        default_factory=lambda: ["docker"],
        description='The CLI and its global options, e.g. ["podman", "--root", "/var/lib/gi"].',
    )
    env_allowlist: list[str] = Field(
        default_factory=list,
        description="Prefixes of the graph's `KEY=VALUE` envs passed into containers (upstream's "
        "`docker-envs`); the others are dropped.",
    )
    mounts: list[str] = Field(
        default_factory=list,
        description="Host folders mounted read-only at the same path in every container (credentials, DEMs).",
    )
    run_options: list[str] = Field(
        default_factory=list, description='Extra options of `docker run`, e.g. ["--network=none"].'
    )
    user: str | None = Field(
        default=None,
        description="`--user` of the containers; unset: this process's uid:gid (outputs stay removable); "
        "empty: the image's own user.",
    )
    check_timeout_seconds: float = Field(
        default=10.0, gt=0, description="How long `docker version` may take to say the engine answers."
    )


class IndexSettings(_Section):
    backend: Literal["embedded", "geocube"] = Field(
        default="embedded", description="`embedded` (SQL tables of our own) or `geocube` (a Geocube server)."
    )
    database_url: str | None = Field(default=None, description="Defaults to the workflow database.")
    geocube_server: str | None = Field(default=None, description="Geocube server address (host:port) for `geocube`.")
    geocube_token: SecretStr | None = Field(default=None, description="API key of the Geocube server, if secured.")
    geocube_secure: bool = Field(default=False, description="Connect to the Geocube server with TLS.")
    geocube_retries: int = Field(default=3, ge=1, description="Tries of an indexing call to the Geocube server.")
    geocube_retry_wait_seconds: float = Field(
        default=15.0, ge=0, description="Wait between two tries of an indexing call (upstream: 15 s)."
    )
    stac_dir: str = Field(
        default="stac", description="Folder, under each AOI's storage folder, holding its STAC collection and items."
    )
    stac_api_url: str | None = Field(default=None, description="Push items to this STAC API (transactions extension).")
    stac_api_token: SecretStr | None = Field(default=None, description="Bearer token for the STAC API.")
    stac_api_timeout_seconds: float = Field(default=30.0, gt=0, description="Timeout of one STAC API request.")
    stac_api_max_retries: int = Field(default=3, ge=0, description="Retries of a push answered 429/5xx or cut off.")
    stac_api_backoff_seconds: float = Field(default=1.0, ge=0, description="First back-off of a push; doubled.")
    stac_api_backoff_max_seconds: float = Field(
        default=30.0, ge=0, description="Longest back-off of a push (a longer Retry-After gives up: temporary)."
    )


class ApiSettings(_Section):
    host: str = Field(default="127.0.0.1", description="Address `geocube-ingest serve` listens on.")
    port: int = Field(default=8080, ge=0, le=65535, description="Port `geocube-ingest serve` listens on.")
    token: SecretStr | None = Field(
        default=None,
        description="Bearer token required on every API route when set (the health check `/` and the "
        "static web page `/ui` stay open; the page asks for the token).",
    )
    cors_origins: list[str] = Field(
        default_factory=list, description="Origins allowed to call the API from a browser (CORS); none when empty."
    )
    max_upload_bytes: int = Field(
        default=64 * 1024**2, ge=1024, description="Requests with a larger body are refused with HTTP 413."
    )
    max_graph_nodes: int = Field(
        default=3000,
        ge=1,
        description="Largest dependency graph (scenes + tiles) rendered as SVG; bigger AOIs get the dot text only.",
    )
    graph_timeout_seconds: float = Field(
        default=60.0, gt=0, description="How long Graphviz may take to lay out a dependency graph."
    )
    basemap_url: str | None = Field(
        default=None,
        description="XYZ tile URL template drawn under the page's map, e.g. "
        "`https://tile.openstreetmap.org/{z}/{x}/{y}.png` (`{s}` for subdomains a, b, c); none by default: "
        "the page then loads nothing from outside the server.",
    )
    basemap_attribution: str | None = Field(
        default=None, description="Attribution shown on the map for the basemap (tile providers' terms ask for one)."
    )

    @field_validator("basemap_url")
    @classmethod
    def _tile_url_template(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value.replace("{s}", "a"))
        # The host goes into the pages' Content-Security-Policy: a plain name (and port), nothing else.
        if parts.scheme not in ("http", "https") or not re.fullmatch(r"[A-Za-z0-9.-]+(:[0-9]+)?", parts.netloc):
            raise ValueError("basemap_url must be an http(s) URL with a plain host name ({s} may stand in it)")
        missing = [p for p in ("{z}", "{x}", "{y}") if p not in value]
        if missing:
            raise ValueError(f"basemap_url needs the placeholders {{z}}, {{x}}, {{y}} (missing {' '.join(missing)})")
        return value

    heavy_answers: int | None = Field(
        default=None,
        ge=1,
        description="Answers built in proportion to an AOI's size (whole lists, GeoJSON, footprints, graphs) built at "
        "once; more wait their turn, so small requests keep CPU and interpreter time. Default: half the CPU cores.",
    )

    @property
    def resolved_heavy_answers(self) -> int:
        return self.heavy_answers or max(1, (os.cpu_count() or 2) // 2)


class PipelineSettings(_Section):
    """How an ingestion run drives the workers (downloads and processing are separate pools)."""

    download_concurrency: int = Field(default=4, ge=1, description="Downloads running at once in one process.")
    tile_concurrency: int = Field(
        default=2, ge=1, description="Tiles processed at once in one process (their raster work runs on Dask)."
    )
    download_batch: int = Field(default=4, ge=1, description="Scenes one download task claims.")
    tile_batch: int = Field(default=25, ge=1, description="Tiles one processing task claims.")
    max_parallel_batches: int = Field(default=4, ge=1, description="Batches in flight at once per pool.")
    poll_seconds: float = Field(
        default=1.0,
        gt=0,
        description="Longest wait between two looks at the workflow database while a pool could take more work "
        "(the loop also looks whenever a batch finishes).",
    )
    stop_grace_seconds: float = Field(
        default=5.0,
        ge=0,
        description="On SIGTERM/SIGINT, how long running jobs may take to stop before their leases and provider "
        "slots are given back and the process exits.",
    )
    publish_stac: bool = Field(default=True, description="Publish the AOI's STAC collection when a run ends.")


class SecuritySettings(_Section):
    """What input (payloads, scenes/tiles files, API bodies) may reach: the operator's lists (docs/security.md)."""

    url_schemes: list[str] = Field(
        default_factory=lambda: ["http", "https", "s3", "gs"],
        description="Schemes of the links in input that are followed (download links, STAC asset hrefs, "
        "annotation URLs); `file` links and local paths are governed by `file_roots`.",
    )
    file_roots: list[str] = Field(
        default_factory=list,
        description="Local folders below which `file://` links and paths given in input may be read "
        "(symbolic links are resolved first); none by default.",
    )
    storage_roots: list[str] = Field(
        default_factory=list,
        description="Storage roots (local paths, s3://, gs://...) a `storage_uri` in input may lie under, "
        "besides `storage_uri` itself.",
    )
    max_annotation_bytes: int = Field(
        default=50 * 1024**2, ge=1024, description="Largest Sentinel-1 annotation (or manifest) file read."
    )
    max_compression_ratio: float = Field(
        default=100.0,
        ge=1,
        description="Largest ratio of unpacked to packed bytes of an archive member (archive bombs).",
    )
    allow_anonymous: bool = Field(
        default=False,
        description="Let `serve` listen on a non-loopback address without `api.token` (anyone may then call "
        "every route).",
    )

    @field_validator("url_schemes")
    @classmethod
    def _schemes(cls, value: list[str]) -> list[str]:
        schemes = [s.strip().lower().removesuffix("://") for s in value]
        if "file" in schemes or "local" in schemes:
            raise ValueError("list local folders in security.file_roots instead of the `file` scheme")
        return schemes


class PrefectSettings(_Section):
    ingest_deployment: str | None = Field(
        default=None, description="When set, /catalog/aoi starts this deployment instead of ingesting in-process."
    )
    task_retries: int = Field(
        default=2,
        ge=0,
        description="Retries of the flows' idempotent tasks (catalogue search, posting, STAC) after a temporary error.",
    )
    task_retry_delay_seconds: float = Field(
        default=5, ge=0, description="Delay before the first of those retries; it doubles for each next one."
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    home: Path = Field(default_factory=default_home)
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; a SQLite file in the home directory when unset."
    )
    storage_uri: str | None = Field(default=None, description="Root of the outputs (local path, s3://, gs://...).")
    work_dir: Path | None = Field(default=None, description="Scratch space for downloads and processing.")
    log_level: str = "INFO"

    workflow: WorkflowSettings = Field(default_factory=WorkflowSettings)
    catalogue: CatalogueSettings = Field(default_factory=CatalogueSettings)
    download: DownloadSettings = Field(default_factory=DownloadSettings)
    s3: S3Settings = Field(default_factory=S3Settings)
    gcs: GCSSettings = Field(default_factory=GCSSettings)
    processing: ProcessingSettings = Field(default_factory=ProcessingSettings)
    graphs: GraphSettings = Field(default_factory=GraphSettings)
    docker: DockerSettings = Field(default_factory=DockerSettings)
    index: IndexSettings = Field(default_factory=IndexSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    pipeline: PipelineSettings = Field(default_factory=PipelineSettings)
    prefect: PrefectSettings = Field(default_factory=PrefectSettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = config_file_path()
        if config_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)

    def with_overrides(self, overrides: dict[str, Any] | None) -> Settings:
        """These settings with some values replaced, nested sections merged key by key."""
        if not overrides:
            return self
        return Settings(**_deep_merge(self.model_dump(), overrides))

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'geocube-ingest.db'}"

    @property
    def resolved_storage_uri(self) -> str:
        return self.storage_uri or str(self.home / "storage")

    @property
    def resolved_work_dir(self) -> Path:
        return self.work_dir or self.home / "work"

    @property
    def resolved_index_database_url(self) -> str:
        return self.index.database_url or self.resolved_database_url


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def config_file_path() -> Path | None:
    explicit = os.environ.get(f"{ENV_PREFIX}CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    candidate = default_home() / "config.toml"
    return candidate if candidate.is_file() else None


def _where(key: str) -> str:
    """Which source a top-level key came from: the environment wins over the file."""
    variable = f"{ENV_PREFIX}{key.upper()}"
    if any(name.upper() == variable or name.upper().startswith(f"{variable}__") for name in os.environ):
        return f"environment {variable}..."
    config_file = config_file_path()
    return str(config_file) if config_file is not None else "keyword arguments"


def _section(loc: tuple[str | int, ...]) -> str:
    """`[download.providers] entry 2` for ('download', 'providers', 1): where the key sits in the TOML file."""
    names = [str(part) for part in loc if isinstance(part, str)]
    indexes = [part for part in loc if isinstance(part, int)]
    if not names:
        return "the top level"
    entry = f" entry {indexes[-1] + 1}" if indexes else ""
    return f"[{'.'.join(names)}]{entry}"


def settings_error(exc: ValidationError) -> SettingsError:
    """One line naming each bad key, its section and its source (values are not shown: they may be secrets)."""
    problems = []
    for error in exc.errors(include_input=False):
        loc = tuple(error["loc"])
        if not loc:
            problems.append(error["msg"])
            continue
        source = _where(str(loc[0]))
        if error["type"] == "extra_forbidden":
            key, parent = loc[-1], loc[:-1]
            problems.append(f"unknown key {key!r} in {_section(parent)} ({source})")
        else:
            field = ".".join(str(part) for part in loc)
            problems.append(f"{field}: {error['msg']} ({source})")
    return SettingsError("settings: " + "; ".join(problems[:5]))


def load_settings(**values: Any) -> Settings:
    """Settings from the sources, or a SettingsError naming what is wrong."""
    try:
        return Settings(**values)
    except ValidationError as exc:
        raise settings_error(exc) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; `get_settings.cache_clear()` re-reads the environment."""
    return load_settings()
