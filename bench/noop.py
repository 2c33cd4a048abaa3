"""A finished payload run again: `geocube-ingest ingest` with and without Prefect, and where
a Prefect flow run's time goes.

    python bench/noop.py                 # Prefect's ephemeral API server (no PREFECT_API_URL)
    PREFECT_API_URL=http://127.0.0.1:4200/api python bench/noop.py   # against a running server

Builds the demo world in a scratch home, ingests it once in-process, then times (wall clock,
each a fresh process, best of `--repeat`):
- `ingest --no-prefect` and `ingest` (Prefect mode: it checks in-process that nothing is new
  and starts no flow run), the figures a user sees;
- the flow `ingest-aoi` run anyway (what the no-op used to cost), split into importing
  Prefect and the flows, starting the API server (ephemeral mode), and the flow run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Run in a fresh interpreter: the flow `ingest-aoi` on the finished payload, timed by stage.
FLOW_STAGES = """
import json, sys, time
t0 = time.perf_counter()
from flows.ingest import ingest_aoi
from prefect.settings import PREFECT_API_URL
t1 = time.perf_counter()
if not PREFECT_API_URL.value():
    from prefect.server.api.server import SubprocessASGIServer
    server = SubprocessASGIServer()
    server.start()
    import os
    os.environ["PREFECT_API_URL"] = server.api_url
t2 = time.perf_counter()
result = ingest_aoi(payload=json.loads(sys.argv[1]), settings=json.loads(sys.argv[2]))
t3 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "server": t2 - t1, "flow": t3 - t2, "noop": result["noop"]}))
"""


def timed(args: list[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(args, env=env, cwd=REPO, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args[:4])} failed ({done.returncode}): {done.stderr[-2000:]}")
    return seconds, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2, help="runs of each figure (the best is printed)")
    args = parser.parse_args()

    sys.path.insert(0, str(REPO))
    from geocube_ingest.demo.build import build, overrides, prepare_index
    from geocube_ingest.index import get_index
    from geocube_ingest.pipeline import ingest
    from geocube_ingest.settings import get_settings

    with tempfile.TemporaryDirectory(prefix="geocube-noop-") as scratch:
        home = Path(scratch)
        env = {k: v for k, v in os.environ.items() if not k.startswith("GEOCUBE_INGEST_")}
        env.update(
            {
                "GEOCUBE_INGEST_HOME": str(home),
                "PREFECT_HOME": str(home / "prefect"),
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                "PREFECT_LOGGING_LEVEL": "WARNING",
            }
        )
        (home / "prefect").mkdir()
        os.environ.update(env)
        world = build(home / "demo")
        extra = overrides(world)
        for key, value in extra.items():
            for name, item in value.items():
                env[f"GEOCUBE_INGEST_{key.upper()}__{name.upper()}"] = json.dumps(item)
        settings = get_settings().with_overrides(extra)
        prepare_index(get_index(settings))
        report = ingest(world.payload, settings=settings)
        print(f"demo ingested once: {report.summary.tiles.done} tiles DONE")
        mode = "server " + env["PREFECT_API_URL"] if env.get("PREFECT_API_URL") else "ephemeral API server"

        cli = [sys.executable, "-m", "geocube_ingest.cli.main", "ingest", str(world.payload_path)]
        figures: dict[str, list[float]] = {"in-process": [], "prefect": [], "flow": []}
        stages: list[dict[str, float]] = []
        for _ in range(args.repeat):
            seconds, out = timed([*cli, "--no-prefect"], env)
            assert "Nothing to do" in out, out
            figures["in-process"].append(seconds)
            seconds, out = timed([*cli, "--prefect"], env)
            assert "no flow run started" in out, out
            figures["prefect"].append(seconds)
            seconds, out = timed([sys.executable, "-c", FLOW_STAGES, json.dumps(world.payload), json.dumps(extra)], env)
            stage = json.loads(out.strip().splitlines()[-1])
            assert stage.pop("noop") is True
            figures["flow"].append(seconds)
            stages.append(stage)

        best = {name: min(values) for name, values in figures.items()}
        print(f"no-op, `geocube-ingest ingest --no-prefect`: {best['in-process']:.1f} s")
        print(f"no-op, `geocube-ingest ingest` (Prefect mode, {mode}): {best['prefect']:.1f} s")
        fastest = min(stages, key=lambda s: sum(s.values()))
        print(
            f"the flow ingest-aoi run anyway: {best['flow']:.1f} s in all = import Prefect and flows"
            f" {fastest['import']:.1f} s + API server {fastest['server']:.1f} s + flow run {fastest['flow']:.1f} s"
            " (+ interpreter start and exit)"
        )


if __name__ == "__main__":
    main()
