#!/usr/bin/env bash
# Install everything the tests need (virtualenv, the project with its dev extra, system
# packages, PostgreSQL) and run the whole test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${GEOCUBE_INGEST_VENV:-.venv}
PY=${PYTHON:-python3}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# System packages: Chromium drives the web page tests, Graphviz renders dependency graphs,
# curl runs the seeds' commands against `geocube-ingest serve`, podman (with runc: crun cannot
# run containers on hybrid cgroup hosts) runs the `docker` engine's containers.
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v dot >/dev/null 2>&1 || missing+=(graphviz)
command -v pg_isready >/dev/null 2>&1 || missing+=(postgresql)
command -v podman >/dev/null 2>&1 || missing+=(podman)
command -v runc >/dev/null 2>&1 || missing+=(runc)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing system packages: ${missing[*]}"
  apt_install "${missing[@]}"
  if [[ " ${missing[*]} " == *" postgresql "* ]]; then
    # A PostgreSQL we just installed: trust local TCP connections, as the tests expect.
    for hba in /etc/postgresql/*/main/pg_hba.conf; do
      as_root sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
    done
  fi
fi

# PostgreSQL on 127.0.0.1:5432 (the tests create and drop their own databases).
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  echo "starting PostgreSQL"
  for version in /etc/postgresql/*; do
    as_root pg_ctlcluster --skip-systemctl-redirect "$(basename "$version")" main start || true
  done
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi

# The project and its test dependencies, from this checkout only.
if [ ! -x "$VENV/bin/python" ]; then "$PY" -m venv "$VENV"; fi
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -e ".[dev]"

export PATH="$PWD/$VENV/bin:$PATH"
exec "$VENV/bin/python" -m pytest "$@"
