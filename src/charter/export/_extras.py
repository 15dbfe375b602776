"""The optional extras MLflow and ONNX export need: found, or a UsageError saying how to get them."""

from __future__ import annotations

import importlib
import warnings
from types import ModuleType
from typing import Literal

from charter.errors import UsageError

__all__ = ["EXTRAS", "require"]

Extra = Literal["mlflow", "onnx"]

EXTRAS: dict[Extra, tuple[str, ...]] = {
    "mlflow": ("mlflow",),
    "onnx": ("onnx", "onnxruntime", "onnxmltools", "skl2onnx"),
}
"""The modules each extra brings (`pip install 'charter[mlflow]'`, `'charter[onnx]'`)."""

# MLflow warns about its own type hints while importing `mlflow.pyfunc` (3.x); the warning is
# about MLflow's code, says nothing to a charter user, and breaks `-W error` runs.
_IMPORT_NOISE = r".*Any type hint is inferred as AnyType.*"


def require(extra: Extra, module: str, *, purpose: str) -> ModuleType:
    """Import `module` of an optional extra, or raise a UsageError naming the install command.

    Example:
        >>> onnxruntime = require("onnx", "onnxruntime", purpose="checking the ONNX graph")  # doctest: +SKIP
    """
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_IMPORT_NOISE, category=UserWarning)
            return importlib.import_module(module)
    except ImportError as exc:
        packages = ", ".join(EXTRAS[extra])
        raise UsageError(
            f"{purpose} needs the optional package(s) {packages} ({exc.name or module} is not "
            f"installed); install them with: pip install 'charter[{extra}]'"
        ) from exc
