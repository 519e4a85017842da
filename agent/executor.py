"""The Python executor the code agent runs in, with smolagents' import allow-list and strict variable names."""

from __future__ import annotations

import ast
from typing import Any

import smolagents.local_python_executor as lpe
from smolagents.local_python_executor import InterpreterError, LocalPythonExecutor

# `.*` matters: a bare "pandas" forbids `pandas.api`, `numpy.linalg` and the like.
AUTHORIZED_IMPORTS = ["pandas", "pandas.*", "numpy", "numpy.*", "plotly", "plotly.*"]

_original_evaluate_name = lpe.evaluate_name


def _strict_evaluate_name(
    name: ast.Name, state: dict[str, Any], static_tools, custom_tools, authorized_imports
):
    """Like smolagents' lookup, without silently using the closest known name for an unknown one.

    smolagents replaces an undefined name with a difflib near-match (`total` -> `totals`), which makes a typo
    compute with the wrong variable. Here an undefined name is an error that names the close matches instead.
    """
    if name.id in state or name.id in static_tools or name.id in custom_tools or name.id in lpe.ERRORS:
        return _original_evaluate_name(name, state, static_tools, custom_tools, authorized_imports)
    import difflib

    close = difflib.get_close_matches(name.id, [k for k in state if not k.startswith("_")])
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise InterpreterError(f"The variable `{name.id}` is not defined.{hint}")


lpe.evaluate_name = _strict_evaluate_name


def local_executor(max_print_chars: int = 20_000) -> LocalPythonExecutor:
    """smolagents' in-process executor with our allow-list.

    No timeout here: smolagents' timeout waits for the hung thread anyway (so it cannot stop it), and it would
    run the code in another thread, away from the run's figure capture.
    """
    return LocalPythonExecutor(
        AUTHORIZED_IMPORTS, max_print_outputs_length=max_print_chars, timeout_seconds=None
    )
