"""Settings refuse what they do not know, and every settings example of the README and docs loads."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel

from geocube_ingest.settings import Settings, SettingsError, get_settings, load_settings

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
TOML_BLOCK = re.compile(r"```toml\n(.*?)```", re.S)
# Environment variables the docs name that are not settings fields.
NOT_SETTINGS = {"GEOCUBE_INGEST_CONFIG", "GEOCUBE_INGEST_TEST_PG"}


def _toml_examples() -> list[tuple[str, str]]:
    return [
        (f"{path.relative_to(ROOT)}#{i}", block)
        for path in DOCUMENTS
        for i, block in enumerate(TOML_BLOCK.findall(path.read_text()))
    ]


def _environment_examples() -> list[tuple[str, list[str]]]:
    """Each `GEOCUBE_INGEST_A__B` of the docs, and the `__C` that follow it on its line (same section)."""
    found = []
    for path in DOCUMENTS:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            section: list[str] = []
            for name, continuation in re.findall(r"GEOCUBE_INGEST_([A-Z0-9_]*[A-Z0-9])|`__([A-Z0-9_]+)`", line):
                if name:
                    if f"GEOCUBE_INGEST_{name}" in NOT_SETTINGS:
                        section = []
                        continue
                    parts = name.split("__")
                    section = parts[:-1]
                    found.append((f"{path.name}:{number}", parts))
                elif section:
                    found.append((f"{path.name}:{number}", [*section, continuation]))
    return found


def _has_field(model: type[BaseModel], parts: list[str]) -> bool:
    field = model.model_fields.get(parts[0].lower())
    if field is None:
        return False
    if len(parts) == 1:
        return True
    nested = field.annotation
    return isinstance(nested, type) and issubclass(nested, BaseModel) and _has_field(nested, parts[1:])


@pytest.mark.parametrize(("where", "text"), _toml_examples(), ids=lambda v: v if "#" in str(v) else "")
def test_every_toml_example_loads(where: str, text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config.toml"
    config.write_text(text)
    monkeypatch.setenv("GEOCUBE_INGEST_CONFIG", str(config))
    settings = load_settings()
    assert settings.model_dump(exclude_unset=True), f"{where} set nothing"


def test_the_docs_have_examples() -> None:
    assert len(_toml_examples()) >= 2
    assert len(_environment_examples()) >= 40


def test_every_environment_variable_of_the_docs_names_a_setting() -> None:
    unknown = [
        f"{where}: {'__'.join(parts)}" for where, parts in _environment_examples() if not _has_field(Settings, parts)
    ]
    assert not unknown


def test_an_unknown_key_in_the_file_names_the_key_the_section_and_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        'storage_uri = "/data"\n[[download.providers]]\nname = "links"\nkind = "url"\n'
        '[[download.providers]]\nname = "cdse"\nkind = "cdse"\npasword_env = "CDSE_PASSWORD"\n'
        "[pipeline]\ntile_bacth = 3\n"
    )
    monkeypatch.setenv("GEOCUBE_INGEST_CONFIG", str(config))
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert str(raised.value) == (
        f"settings: unknown key 'pasword_env' in [download.providers] entry 2 ({config}); "
        f"unknown key 'tile_bacth' in [pipeline] ({config})"
    )


def test_an_unknown_key_at_the_top_or_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config.toml"
    config.write_text('storage_url = "/data"\n')
    monkeypatch.setenv("GEOCUBE_INGEST_CONFIG", str(config))
    with pytest.raises(
        SettingsError, match=rf"unknown key 'storage_url' in the top level \({re.escape(str(config))}\)"
    ):
        load_settings()
    config.write_text("")
    monkeypatch.setenv("GEOCUBE_INGEST_API__TOKN", "s3cr3t")
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert str(raised.value) == "settings: unknown key 'tokn' in [api] (environment GEOCUBE_INGEST_API...)"
    assert "s3cr3t" not in str(raised.value)


def test_a_bad_value_names_the_field_not_the_value(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[[download.providers]]\nname = "cdse"\nkind = "cdse"\npassword = ["s3cr3t"]\n')
    monkeypatch.setenv("GEOCUBE_INGEST_CONFIG", str(config))
    with pytest.raises(SettingsError, match=r"download\.providers\.0\.password: Input should be a valid string") as e:
        load_settings()
    assert "s3cr3t" not in str(e.value)


def test_token_env_of_a_download_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEOCUBE_INGEST_DOWNLOAD__PROVIDERS", '[{"name": "asf", "kind": "asf", "token_env": "EDL"}]')
    monkeypatch.setenv("EDL", "from-env")
    get_settings.cache_clear()
    (asf,) = get_settings().download.providers
    assert asf.token is not None and asf.token.get_secret_value() == "from-env"
    given = load_settings(
        download={"providers": [{"name": "asf", "kind": "asf", "token": "given", "token_env": "EDL"}]}
    )
    assert given.download.providers[0].token.get_secret_value() == "given"  # type: ignore[union-attr]


def test_the_cli_says_it_in_one_line_and_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[[catalogue.providers]]\npreset = 'earth-search'\ntimeout = 5\n")
    monkeypatch.setenv("GEOCUBE_INGEST_CONFIG", str(config))
    result = subprocess.run(
        [sys.executable, "-m", "geocube_ingest.cli.main", "aois"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert (
        result.stderr.strip() == f"error: settings: unknown key 'timeout' in [catalogue.providers] entry 1 ({config})"
    )
