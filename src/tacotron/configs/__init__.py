"""The YAML configs shipped inside the package (demo recipes, tuning bases, search spaces).

They are package data, so an installed `tacotron` finds them without a source checkout:
`--config demo.yaml` (or `--config demo`) means the shipped file whenever no such file exists in the
current folder, and `shipped_config("space.yaml")` gives its path.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def shipped_dir() -> Path:
    # A regular (unzipped) install or a source checkout: the package folder is a real directory, which
    # layered configs (`base: demo.yaml`, resolved next to the file) need.
    return Path(str(files(__name__)))


def shipped_names() -> list[str]:
    return sorted(p.name for p in shipped_dir().glob("*.yaml"))


def _shipped_path(name: str) -> Path:
    return shipped_dir() / (name if name.endswith((".yaml", ".yml")) else f"{name}.yaml")


def shipped_config(name: str) -> Path:
    """Path of the shipped config `name` ("demo.yaml" or "demo"); FileNotFoundError lists the names."""
    path = _shipped_path(name)
    if not path.is_file():
        raise FileNotFoundError(f"no shipped config {name!r}; shipped: {', '.join(shipped_names())}")
    return path


def find_config(path: str | Path) -> Path:
    """`path` when that file exists, else the shipped config of that name (a bare name only: a path
    with folders in it means that file). FileNotFoundError names both places when neither exists."""
    candidate = Path(path)
    if candidate.is_file():
        return candidate
    if candidate.parent == Path(".") and _shipped_path(candidate.name).is_file():
        return _shipped_path(candidate.name)
    raise FileNotFoundError(
        f"config file not found: {path} (nor a shipped config of that name; shipped: "
        f"{', '.join(shipped_names())})"
    )
