"""Fixtures of the Smart Tuner's integration tests: trial settings as files, and a throw-away PostgreSQL server."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml
from tests.helpers.configs import TRIAL_SPACE, trial_base_config
from tests.helpers.servers import free_port


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


PG_PASSWORD = "tuner-secret-pw"  # the cluster trusts local TCP; the password is there to be hidden


def _postgres_bindir() -> Path | None:
    """The newest /usr/lib/postgresql/<version>/bin with initdb and pg_ctl (Debian's postgresql package)."""
    found = [
        Path(p).parent
        for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")
        if Path(p).with_name("pg_ctl").is_file()
    ]
    return max(found, key=lambda d: int(d.parent.name) if d.parent.name.isdigit() else 0) if found else None


def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=cwd)


@pytest.fixture(scope="module")
def postgres_url():
    """A throw-away PostgreSQL server: a new cluster in a temporary folder on a free port, removed after.

    The server runs as the current user or, under root (which PostgreSQL refuses), as `nobody`. It
    trusts TCP connections from 127.0.0.1; the URL carries a password all the same, so tests can check
    that it never shows. Without the server binaries the test is skipped, except under CI (CI set),
    where `make test` installs them: there it fails.
    """
    bindir = _postgres_bindir()
    runas: list[str] = []
    if bindir is not None and os.geteuid() == 0:
        runas = ["runuser", "-u", "nobody", "--"] if shutil.which("runuser") else []
    missing = (
        "PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin/initdb, Debian package "
        "postgresql: `make test` installs it)"
        if bindir is None
        else "running as root without runuser (util-linux): cannot start PostgreSQL as another user"
        if os.geteuid() == 0 and not runas
        else None
    )
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the PostgreSQL tests: {missing}")
        pytest.skip(missing)
    root = Path(tempfile.mkdtemp(prefix="tacotron-pg-"))  # /tmp: reachable by `nobody`
    if runas:
        nobody = pwd.getpwnam("nobody")
        os.chown(root, nobody.pw_uid, nobody.pw_gid)
    data, port = root / "data", free_port()
    init = _run(
        [*runas, str(bindir / "initdb"), "-D", str(data), "-U", "tuner", "--auth=trust", "-E", "UTF8"], root
    )
    assert init.returncode == 0, f"initdb failed: {init.stdout[-2000:]}{init.stderr[-2000:]}"
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50"
    pg_ctl = [*runas, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "server.log")]
    started = _run([*pg_ctl, "-w", "-t", "60", "-o", options, "start"], root)
    try:
        log = (root / "server.log").read_text(errors="replace") if (root / "server.log").exists() else ""
        assert started.returncode == 0, f"pg_ctl start failed: {started.stderr[-2000:]}{log[-2000:]}"
        created = _run(
            [str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "tuner", "tune"], root
        )
        assert created.returncode == 0, f"createdb failed: {created.stderr[-2000:]}"
        yield f"postgresql+psycopg2://tuner:{PG_PASSWORD}@127.0.0.1:{port}/tune"
    finally:
        _run([*pg_ctl, "-m", "immediate", "stop"], root)
        shutil.rmtree(root, ignore_errors=True)
