"""`shutdown.exit_now` skips atexit (threads may still run jobs), so what must not outlive the
process is stopped by the hooks registered with `on_exit_now`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = """
import atexit, sys
from pathlib import Path
from geocube_ingest import shutdown

out = Path(sys.argv[1])
atexit.register(lambda: (out / "atexit").touch())
def failing():
    raise RuntimeError("a hook that fails")
shutdown.on_exit_now(failing)
shutdown.on_exit_now(lambda: (out / "hook").touch())
shutdown.exit_now(7)
"""


def test_exit_now_runs_its_hooks_even_after_one_fails_and_skips_atexit(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 7, done.stderr
    assert (tmp_path / "hook").exists(), "the hook after the failing one ran"
    assert not (tmp_path / "atexit").exists(), "atexit is still skipped"
    assert "a hook that fails" in done.stderr, "the failure is logged, not raised"
