"""Credentials never show: not in logs (all loggers, DEBUG), messages, outcomes, history, exceptions or reprs."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from pydantic import SecretStr

from geocube_ingest.download import download_scene
from geocube_ingest.download.http import HttpClient, StaticBearer
from geocube_ingest.download.providers import build_providers
from geocube_ingest.download.redact import Redactor, redact_url
from geocube_ingest.settings import DownloadProviderSettings, Settings
from geocube_ingest.workflow import Workflow
from tests.download.conftest import CDSE_PASSWORD, CDSE_USER, S2_NAME, SceneFactory, make_settings
from tests.download.servers import BaseServer, CdseServer, FileServer, Handler
from tests.storage.servers import S3_SECRET, S3Server

T54PXA = "05edf2bb-d103-49f1-a677-9e474138d84f"
ASF_TOKEN = "edl-secret-token-5f4dcc3b5aa7"
URL_TOKEN = "url-bearer-secret-0a1b2c3d"
LINK_PASSWORD = "linkpass-77f2a9"
QUERY_SECRET = "sig-9d8c7b6a5f4e"


def echoing_token_server() -> BaseServer:
    """An identity server that puts the submitted password in its error message."""
    server = BaseServer()

    def token(handler: Handler, _match: re.Match[str]) -> None:
        form = {k: v[0] for k, v in parse_qs(handler.request_body.decode()).items()}
        handler.send_json(
            401, {"error": "invalid_grant", "error_description": f"wrong password {form.get('password')}"}
        )

    server.route("POST", r"/token", token)
    return server.start()


def all_secrets(*extra: str) -> list[str]:
    return [CDSE_PASSWORD, ASF_TOKEN, URL_TOKEN, LINK_PASSWORD, QUERY_SECRET, S3_SECRET, *extra]


def assert_clean(text: str, secrets: list[str]) -> None:
    for secret in secrets:
        assert secret not in text, f"a secret leaked: {secret[:4]}..."


def test_no_secret_in_logs_messages_history_or_reprs(
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    wf: Workflow,
    add_scene: SceneFactory,
    cdse_server: CdseServer,
    file_server: FileServer,
    s3_server: S3Server,
    s2_zip: bytes,
) -> None:
    caplog.set_level(logging.DEBUG)
    echo = echoing_token_server()
    cdse_server.serve(T54PXA, s2_zip)
    file_server.add("/asf/SLC/SA/x.zip", b"nothing")  # not the path ASF asks for: 404
    link = file_server.add(f"/p/{S2_NAME}.zip", s2_zip, bearer=URL_TOKEN)
    host = file_server.url("/missing.zip").split("://", 1)[1]
    providers = [
        DownloadProviderSettings(
            name="cdse-echo",
            kind="cdse",
            url=cdse_server.odata_url,
            token_url=echo.url("/token"),
            username=CDSE_USER,
            password=SecretStr(CDSE_PASSWORD),
        ),
        DownloadProviderSettings(name="asf", kind="asf", url=file_server.url("/asf"), token=SecretStr(ASF_TOKEN)),
        DownloadProviderSettings(
            name="links-without-token", kind="url", options={"assets": []}, auth_domains=["127.0.0.1"]
        ),
        DownloadProviderSettings(name="links", kind="url", token=SecretStr(URL_TOKEN)),
    ]
    bucket = s3_server.new_bucket()
    settings = make_settings(tmp_path, *providers).model_copy(update={"s3": s3_server.settings()})
    settings = settings.with_overrides({"security": {"storage_roots": [f"s3://{bucket}"]}})
    # A link carrying credentials of its own (user info, signed query): never echoed either.
    secret_link = f"http://user:{LINK_PASSWORD}@{host}?X-Amz-Signature={QUERY_SECRET}"
    failing = add_scene(wf, "S1A_IW_SLC__1SDV_X", metadata={"download_link": secret_link}, uuid=T54PXA)
    # Stored on S3 (moto): botocore's DEBUG logs are captured too.
    working = add_scene(wf, metadata={"download_link": link}, uuid=T54PXA, storage_uri=f"s3://{bucket}/out")
    try:
        failed = download_scene(wf, failing, settings=settings)
        done = download_scene(wf, working, settings=settings)
    finally:
        echo.stop()
    assert failed.kind == "FAILED"
    assert "CDSE refused the credentials" in failed.message
    assert done.kind == "DONE", done.message

    history = [e.message for s in (failing, working) for e in wf.events("scene", s)]
    reprs = [repr(p) for p in build_providers(settings)] + [repr(settings), str(settings), repr(settings.download)]
    reprs.append(repr(HttpClient(settings, credentials=StaticBearer(ASF_TOKEN))))
    text = "\n".join(
        [caplog.text, failed.message, done.message, *history, *reprs, json.dumps(settings.model_dump(mode="json"))]
    )
    assert "wrong password ***" in text  # the echoed password was masked, the message kept
    assert_clean(text, all_secrets())


def test_redaction_of_urls_and_known_values() -> None:
    assert redact_url("https://u:p4ss@host.example/a/b.zip?sig=x&t=y") == "https://host.example/a/b.zip?***"
    assert redact_url("s3://bucket/key.zip") == "s3://bucket/key.zip"
    redactor = Redactor(["topsecret-value"])
    redactor.add("abc")  # too short to be a credential: not masked (would mangle messages)
    cleaned = redactor.clean("token topsecret-value failed on http://a:b@h/x?k=v with abc")
    assert cleaned == "token *** failed on http://h/x?*** with abc"


def test_settings_keep_secrets_out_of_reprs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "GEOCUBE_INGEST_DOWNLOAD__PROVIDERS",
        json.dumps([{"name": "cdse", "kind": "cdse", "username": "u", "password": CDSE_PASSWORD}]),
    )
    monkeypatch.setenv("GEOCUBE_INGEST_S3__SECRET_ACCESS_KEY", S3_SECRET)
    settings = Settings()
    assert settings.download.providers[0].password is not None
    assert settings.download.providers[0].password.get_secret_value() == CDSE_PASSWORD
    assert_clean(repr(settings) + str(settings.model_dump()), all_secrets())
