"""Optional features and the pip extras that install them.

The core install (`pip install tacotron-trainer`) trains and synthesises with Griffin-Lim; serving,
tuning, the ASR judge, MLflow, Russian stress, phonemes, ONNX export and HiFi-GAN weights each come
with an extra. Their packages are imported lazily, through `require`, so a missing one becomes one
line naming the extra to install (the CLI prints it and exits 2) instead of a bare ImportError deep
inside a run.
"""

from __future__ import annotations

import importlib
import importlib.util
from importlib.machinery import ModuleSpec
from types import ModuleType

DISTRIBUTION = "tacotron-trainer"


class MissingExtraError(ImportError):
    """An optional package is not installed; the message names the extra that brings it."""


def install_command(extra: str) -> str:
    return f"pip install '{DISTRIBUTION}[{extra}]'"


def _missing(module_name: str, extra: str, feature: str) -> MissingExtraError:
    return MissingExtraError(
        f"{feature} needs the '{extra}' extra ({module_name} is not installed): {install_command(extra)}",
        name=module_name,
    )


def require(module_name: str, extra: str, feature: str) -> ModuleType:
    """Import and return `module_name`, or raise MissingExtraError naming `extra`.

    Only a missing `module_name` itself (or its top-level package) is reported this way: an
    ImportError from inside an installed package is a broken install and keeps its traceback.
    """
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name != module_name and not module_name.startswith(f"{err.name}."):
            raise
        raise _missing(module_name, extra, feature) from err


def require_spec(module_name: str, extra: str, feature: str) -> ModuleSpec:
    """Locate the top-level package `module_name` without executing it (for packages used only for
    their data files), or raise MissingExtraError naming `extra`."""
    spec = importlib.util.find_spec(module_name)
    if spec is None:
        raise _missing(module_name, extra, feature)
    return spec
