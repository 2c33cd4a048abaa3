"""A few hundred malformed payloads and scenes files (hypothesis, derandomised) against the real server.

Each is a valid document with one to three of its members replaced, removed or added, with
values chosen to break parsers: huge and non-finite numbers, NUL characters, paths and URLs,
long strings, wrong types, deep nesting. Whatever the server makes of them, it answers below
500 with a JSON body, and a 4xx names the problem.
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.conftest import RunningServer
from tests.api.test_trust import PAYLOAD, parts, scenes_file

NASTY_TEXT = [
    "",
    "\x00",
    "../../../../etc/passwd",
    "file:///etc/passwd",
    "/etc/passwd",
    "data://application/json;base64,e30=",
    "http://127.0.0.1:1/x.zip",
    "9" * 5000,
    "x" * 300,
    "é" * 200,
    "NaN",
    "2022-01-01",
    "9999-12-31T23:59:59-05:00",
    "[0 TO 30]",
    "[30 TO 0]",
    "sentinel1",
    "Polygon",
    "FeatureCollection",
    "POLYGON ((0 0, 1 0, 1 1, 0 1, 0 0))",
    "s3://bucket/{SCENE}.zip",
    "{UNKNOWN}",
]
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.sampled_from([2**31, 2**63, -(2**63) - 1, 0, -1])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
    | st.sampled_from(NASTY_TEXT)
)
VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
DEEP = st.integers(min_value=60, max_value=200).map(lambda n: json.loads("[" * n + "]" * n))

Path_ = tuple[str | int, ...]
TRIED: Counter[str] = Counter()


def member_paths(document: Any, prefix: Path_ = ()) -> list[Path_]:
    found: list[Path_] = []
    if isinstance(document, dict):
        for key, value in document.items():
            found.append((*prefix, key))
            found += member_paths(value, (*prefix, key))
    elif isinstance(document, list):
        for i, value in enumerate(document[:2]):
            found.append((*prefix, i))
            found += member_paths(value, (*prefix, i))
    return found


def mutate(document: Any, path: Path_, action: str, value: Any) -> None:
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    last = path[-1]
    if action == "delete":
        del parent[last]
    elif action == "add" and isinstance(parent, dict):
        parent[f"{last}_extra"] = value
    else:
        parent[last] = value


@st.composite
def malformed(draw: st.DrawFn, original: dict[str, Any]) -> str:
    """The JSON text of `original` broken in one to three places."""
    document = copy.deepcopy(original)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = member_paths(document)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["set", "set", "set", "delete", "add"]))
        mutate(document, path, action, draw(VALUES | DEEP))
    return json.dumps(document, allow_nan=True)


@pytest.fixture
def database_url(pg_url: str) -> str:
    """PostgreSQL only: the stricter of the two about what it stores (NUL characters, numbers)."""
    from tests.conftest import _truncate_all

    _truncate_all(pg_url)
    return pg_url


@pytest.fixture
def http(locked_server: RunningServer) -> Iterator[httpx.Client]:
    """One client for every example (a new one per request costs more than the request)."""
    with httpx.Client(base_url=locked_server.url, timeout=60) as client:
        yield client
    print(f"\nfuzz: {sum(TRIED.values())} malformed documents posted, answers by status: {dict(sorted(TRIED.items()))}")


def post(http: httpx.Client, route: str, **documents: str) -> httpx.Response:
    if route.endswith("json"):
        envelope = "{" + ", ".join(f'"{name}": {text}' for name, text in documents.items()) + "}"
        answer = http.post(route.removesuffix("-json"), content=envelope, headers={"content-type": "application/json"})
    else:
        answer = http.post(route, files=parts(documents.pop("area"), **documents))
    TRIED[str(answer.status_code)] += 1
    assert answer.status_code < 500, answer.text
    assert answer.json() is not None  # a JSON body, always
    if answer.status_code >= 400:
        assert answer.json()["detail"], answer.text
    return answer


ROUTES = st.sampled_from(
    ["/catalog/scenes", "/catalog/tiles", "/catalog/aoi", "/catalog/scenes-json", "/catalog/aoi-json"]
)
FUZZ = settings(
    max_examples=250,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.mark.slow
@FUZZ
@given(text=malformed(PAYLOAD), route=ROUTES)
def test_malformed_payloads_never_get_a_5xx(http: httpx.Client, text: str, route: str) -> None:
    post(http, route, area=text)


@pytest.mark.slow
@FUZZ
@given(
    text=malformed(scenes_file()),
    name=st.sampled_from(["scenes", "tiles"]),
    route=st.sampled_from(["/catalog/aoi", "/catalog/tiles"]),
)
def test_malformed_scenes_files_never_get_a_5xx(http: httpx.Client, text: str, name: str, route: str) -> None:
    if route == "/catalog/tiles" and name == "tiles":
        name = "scenes"
    post(http, route, area=json.dumps(PAYLOAD), **{name: text})
