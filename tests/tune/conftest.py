"""Fixtures of the Smart Tuner's integration tests: trial settings as files, and a throw-away PostgreSQL database."""

from __future__ import annotations

import getpass
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from tests.helpers.configs import TRIAL_SPACE, trial_base_config


@pytest.fixture
def space_file(tmp_path) -> Path:
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(TRIAL_SPACE))
    return path


@pytest.fixture
def base_config_file(tmp_path) -> Path:
    path = tmp_path / "base.yaml"
    trial_base_config().save(path)
    return path


def _run(cmd: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def _as_postgres(sql: str) -> subprocess.CompletedProcess:
    return _run(["runuser", "-u", "postgres", "--", "psql", "-v", "ON_ERROR_STOP=1", "-tAc", sql])


@pytest.fixture(scope="module")
def postgres_url():
    """A throw-away database on the local PostgreSQL cluster (started if needed, stopped again after).

    Skipped, with the reason, where PostgreSQL is not installed or cannot be started as root.
    """
    if shutil.which("pg_lsclusters") is None or shutil.which("runuser") is None:
        pytest.skip(
            "PostgreSQL test skipped: pg_lsclusters/runuser not installed (Debian postgresql package)"
        )
    if os.geteuid() != 0:
        pytest.skip("PostgreSQL test skipped: starting the local cluster needs root")
    clusters = [line.split() for line in _run(["pg_lsclusters", "--no-header"]).stdout.splitlines() if line]
    if not clusters:
        pytest.skip("PostgreSQL test skipped: no cluster (pg_createcluster) on this machine")
    version, name, status = clusters[0][0], clusters[0][1], clusters[0][3]
    started = False
    if status != "online":
        result = _run(["pg_ctlcluster", version, name, "start"])
        if result.returncode != 0:
            pytest.skip(
                f"PostgreSQL test skipped: pg_ctlcluster {version} {name} start failed: {result.stderr}"
            )
        started = True
    user, db = getpass.getuser(), f"tacotron_tune_{os.getpid()}"
    try:
        if _as_postgres(f"SELECT 1 FROM pg_roles WHERE rolname = '{user}'").stdout.strip() != "1":
            assert _as_postgres(f'CREATE ROLE "{user}" LOGIN SUPERUSER').returncode == 0
        assert _as_postgres(f'CREATE DATABASE "{db}" OWNER "{user}"').returncode == 0
        yield f"postgresql+psycopg2://{user}@/{db}?host=/var/run/postgresql"
        _as_postgres(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    finally:
        if started:
            _run(["pg_ctlcluster", version, name, "stop"])
