"""Download jobs on input that points where the operator did not allow: nothing is read or written.

The scenes here reach the workflow directly (as an old row, or a PUT .../data the API would now
refuse would): the job itself must refuse them and end FAILED with the reason.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from geocube_ingest.download import download_scene, scene_work_dir
from geocube_ingest.download.providers import ProductRequest, build_provider
from geocube_ingest.settings import DownloadProviderSettings, Settings
from geocube_ingest.workflow import Workflow
from tests.download.conftest import S2_NAME, SceneFactory
from tests.download.servers import FileServer

SECRET = "top-secret-content"


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """The boundary does not depend on the backend: SQLite only."""
    return f"sqlite:///{tmp_path / 'workflow.db'}"


@pytest.fixture
def secret_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A file the operator never allowed: outside every file root of these settings."""
    path = tmp_path_factory.mktemp("private") / "passwd"
    path.write_text(SECRET)
    return path


def settings_for(tmp_path: Path, *providers: DownloadProviderSettings, file_roots: list[str]) -> Settings:
    return Settings(
        storage_uri=str(tmp_path / "storage"),
        work_dir=tmp_path / "work",
        download={"providers": providers, "backoff_seconds": 0.01, "timeout_seconds": 10},  # type: ignore[arg-type]
        security={"file_roots": file_roots, "storage_roots": []},  # type: ignore[arg-type]
    )


def stored_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_a_file_link_outside_the_roots_is_never_read(
    workflow: Workflow, add_scene: SceneFactory, tmp_path: Path, secret_file: Path
) -> None:
    settings = settings_for(tmp_path, DownloadProviderSettings(name="links", kind="url"), file_roots=[])
    for link in (secret_file.as_uri(), str(secret_file), "file:///etc/passwd"):
        scene_id = add_scene(workflow, f"{S2_NAME}_{len(link)}", metadata={"download_link": link})
        outcome = download_scene(workflow, scene_id, settings=settings)
        assert outcome.kind == "FAILED"
        assert "not allowed" in outcome.message and SECRET not in outcome.message
    assets = {"B01": {"href": "https://example.invalid/B01.jp2"}, "B02": {"href": secret_file.as_uri()}}
    scene_id = add_scene(workflow, f"{S2_NAME}_assets", metadata={"assets": assets})
    outcome = download_scene(workflow, scene_id, settings=settings)
    assert outcome.kind == "FAILED" and "download link" in outcome.message and "not allowed" in outcome.message
    assert stored_files(tmp_path / "storage") == []
    assert stored_files(tmp_path / "work") == []


def test_a_symbolic_link_in_an_allowed_folder_does_not_lead_out(
    workflow: Workflow, add_scene: SceneFactory, tmp_path: Path, secret_file: Path
) -> None:
    allowed = tmp_path / "products"
    allowed.mkdir()
    (allowed / "p.zip").symlink_to(secret_file)
    settings = settings_for(tmp_path, DownloadProviderSettings(name="links", kind="url"), file_roots=[str(allowed)])
    scene_id = add_scene(workflow, metadata={"download_link": str(allowed / "p.zip")})
    outcome = download_scene(workflow, scene_id, settings=settings)
    assert outcome.kind == "FAILED" and "not allowed" in outcome.message
    assert stored_files(tmp_path / "storage") == []


def test_a_redirect_to_another_scheme_is_not_followed(tmp_path: Path, file_server: FileServer) -> None:
    link = file_server.redirect("/p.zip", "file:///etc/passwd")
    settings = settings_for(tmp_path, file_roots=["/etc"])
    provider = build_provider(DownloadProviderSettings(name="links", kind="url"), settings)
    try:
        result = provider.download(ProductRequest(1, S2_NAME, metadata={"download_link": link}), tmp_path / "dl")
    finally:
        provider.close()
    assert result.kind.value == "fatal"
    assert "redirects to file://" in result.message and result.message.endswith(": not allowed")
    assert stored_files(tmp_path / "dl") == []


@pytest.mark.parametrize(
    "source_id", ["../private/passwd", "../../../../etc/passwd", "/etc/passwd", "a/../../x"], ids=str
)
def test_the_local_provider_stays_inside_its_root(tmp_path: Path, secret_file: Path, source_id: str) -> None:
    root = tmp_path / "archive"
    root.mkdir()
    settings = settings_for(tmp_path, file_roots=[])
    provider = build_provider(DownloadProviderSettings(name="archive", kind="local", path=str(root)), settings)
    result = provider.download(ProductRequest(1, source_id), tmp_path / "dl")
    assert result.kind.value == "fatal", result
    assert "not allowed" in result.message and SECRET not in result.message


def test_the_local_provider_refuses_a_symbolic_link_out_of_its_root(tmp_path: Path, secret_file: Path) -> None:
    root = tmp_path / "archive"
    root.mkdir()
    (root / f"{S2_NAME}.zip").symlink_to(secret_file)
    settings = settings_for(tmp_path, file_roots=[])
    provider = build_provider(DownloadProviderSettings(name="archive", kind="local", path=str(root)), settings)
    result = provider.download(ProductRequest(1, S2_NAME), tmp_path / "dl")
    assert result.kind.value == "fatal" and "not allowed" in result.message
    uuid = provider.download(ProductRequest(1, S2_NAME + "x", uuid="../../x"), tmp_path / "dl")
    assert uuid.kind.value == "fatal" and "uuid" in uuid.message


def test_a_storage_uri_outside_the_roots_fails_the_job_before_writing(
    workflow: Workflow, add_scene: SceneFactory, tmp_path: Path, s2_zip: bytes
) -> None:
    products = tmp_path / "products"
    products.mkdir()
    (products / f"{S2_NAME}.zip").write_bytes(s2_zip)
    outside = tmp_path / "outside"
    settings = settings_for(tmp_path, DownloadProviderSettings(name="links", kind="url"), file_roots=[str(products)])
    link = str(products / f"{S2_NAME}.zip")
    scene_id = add_scene(workflow, metadata={"download_link": link}, storage_uri=str(outside))
    outcome = download_scene(workflow, scene_id, settings=settings)
    assert outcome.kind == "FAILED"
    assert f"storage_uri {str(outside)!r}: not allowed" in outcome.message
    assert not outside.exists()
    assert stored_files(tmp_path / "storage") == []


def make_bomb(path: Path, megabytes: int, name: str = "X.SAFE/measurement/zeros.tiff") -> Path:
    """A zip of `megabytes` MB of zeros: about 1000 times smaller than what it holds."""
    chunk = b"\0" * 1024 * 1024
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf, zf.open(name, "w", force_zip64=True) as member:
        for _ in range(megabytes):
            member.write(chunk)
    return path


def test_a_product_zip_bomb_fails_the_scene_unpacked_to_nothing(
    workflow: Workflow, add_scene: SceneFactory, tmp_path: Path
) -> None:
    products = tmp_path / "products"
    products.mkdir()
    bomb = make_bomb(products / f"{S2_NAME}.zip", 200)
    assert bomb.stat().st_size < 400_000
    settings = settings_for(tmp_path, DownloadProviderSettings(name="links", kind="url"), file_roots=[str(products)])
    scene_id = add_scene(workflow, metadata={"download_link": str(bomb)}, is_retriable=True)
    outcome = download_scene(workflow, scene_id, settings=settings)
    assert outcome.kind == "FAILED"  # whatever is_retriable says: the same archive will never unpack
    assert "compressed" in outcome.message and "archive bomb" in outcome.message
    assert not scene_work_dir(settings, scene_id).exists()
    assert stored_files(tmp_path / "storage") == []


def test_the_asf_token_never_goes_to_a_host_of_the_scene(tmp_path: Path, file_server: FileServer) -> None:
    from pydantic import SecretStr

    attacker = FileServer().start()
    try:
        attacker.add(f"/{S2_NAME}.zip", b"x")
        config = DownloadProviderSettings(name="asf", kind="asf", url=file_server.url(""), token=SecretStr("tok-123"))
        provider = build_provider(config, settings_for(tmp_path, file_roots=[]))
        try:
            metadata = {"asf_url": attacker.url(f"/{S2_NAME}.zip")}
            result = provider.download(ProductRequest(1, S2_NAME, metadata=metadata), tmp_path / "dl")
        finally:
            provider.close()
        assert result.kind.value == "fatal" and "asf_url" in result.message and "not allowed" in result.message
        assert attacker.requests == []
    finally:
        attacker.stop()


def test_a_scene_named_like_a_path_fails_before_any_provider_runs(
    workflow: Workflow, add_scene: SceneFactory, tmp_path: Path, file_server: FileServer
) -> None:
    link = file_server.add("/p.zip", b"x")
    settings = settings_for(tmp_path, DownloadProviderSettings(name="links", kind="url"), file_roots=[])
    scene_id = add_scene(workflow, "../../../escaped", metadata={"download_link": link})
    outcome = download_scene(workflow, scene_id, settings=settings)
    assert outcome.kind == "FAILED" and "not allowed in a path" in outcome.message
    assert file_server.requests == []
    assert not (tmp_path / "escaped.zip").exists() and not (tmp_path.parent / "escaped").exists()
