"""The Python executor the code agent runs in, with smolagents' import allow-list and strict variable names.

On top of smolagents' checks, the interpreter refuses the ways out it does not see (found by trying): loading
pickles (`pd.read_pickle`, `np.load(allow_pickle=True)`), native code (`np.ctypeslib`, `arr.ctypes`), templates
(`df.style`, whose Jinja2 environment reaches `os`), helpers that start programs (`numpy.f2py`, kaleido), and
format strings that read attributes (`'{0.__init__.__globals__}'.format(df)`). These are inner layers: the worker's
process, bubblewrap, Landlock and seccomp (agent.sandbox.process) are the boundary.
"""

from __future__ import annotations

import ast
import re
import string
from collections.abc import Callable
from types import ModuleType
from typing import Any

import smolagents.local_python_executor as lpe
from smolagents.local_python_executor import InterpreterError, LocalPythonExecutor

# `.*` matters: a bare "pandas" forbids `pandas.api`, `numpy.linalg` and the like.
AUTHORIZED_IMPORTS = ["pandas", "pandas.*", "numpy", "numpy.*", "plotly", "plotly.*"]

# The interpreter's tables of callables by name (its static tools, the agent's custom tools).
Tools = dict[str, Callable[..., Any]]

_original_evaluate_name = lpe.evaluate_name


def _strict_evaluate_name(
    name: ast.Name,
    state: dict[str, Any],
    static_tools: Tools,
    custom_tools: Tools,
    authorized_imports: list[str],
) -> Any:
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


# Modules under the allowed packages that load pickles, native code or templates, or start programs.
BLOCKED_MODULES = (
    "numpy.ctypeslib",
    "numpy.lib.format",
    "numpy.lib.npyio",
    "numpy.lib._npyio_impl",
    "numpy.lib._format_impl",
    "numpy.f2py",
    "numpy.distutils",
    "numpy.testing",
    "numpy._core._internal",
    "numpy.core._internal",
    "pandas.io.pickle",
    "pandas.compat.pickle_compat",
    "pandas.io.formats.style",
    "pandas.io.formats.style_render",
    "pandas.io.pytables",
    "pandas.io.clipboard",
    "pandas.io.clipboards",
    "pandas.util._tester",
    "pandas.util._print_versions",
    "plotly.io.kaleido",
    "plotly.io._kaleido",
    "plotly.io.orca",
    "plotly.io._orca",
)
# Whatever these modules make (a Jinja2 environment, a ctypes library, a pickle loader) is refused as a value.
_BLOCKED_TYPE_MODULES = (
    "jinja2",
    "markupsafe",
    "ctypes",
    "_ctypes",
    "pickle",
    "_pickle",
    "subprocess",
    "os",
    "posix",
    "socket",
    "_socket",
    *BLOCKED_MODULES,
)
_original_check_safer_result = lpe.check_safer_result
_original_check_import_authorized = lpe.check_import_authorized
_blocked_callables: set[int] = set()


def _is_blocked_module(name: str) -> bool:
    return any(name == blocked or name.startswith(blocked + ".") for blocked in BLOCKED_MODULES)


def _guarded_check_import_authorized(import_to_check: str, authorized_imports: list[str]) -> bool:
    if _is_blocked_module(import_to_check):
        return False
    return _original_check_import_authorized(import_to_check, authorized_imports)


def _attribute_fields(template: str) -> list[str]:
    """Replacement fields of a str.format template that read attributes or items (`{0.__class__}`, `{0[x]}`)."""
    found: list[str] = []
    try:
        for _, field, spec, _ in string.Formatter().parse(template):
            if field and ("." in field or "[" in field):
                found.append(field)
            if spec and "{" in spec:
                found.extend(_attribute_fields(spec))
    except ValueError:  # not a valid template: str.format will fail on it by itself
        pass
    return found


def _guarded_check_safer_result(
    result: Any, static_tools: Tools | None = None, authorized_imports: list[str] | None = None
) -> None:
    """smolagents' check of every value the interpreter makes, plus the ways out listed in BLOCKED_MODULES."""
    _original_check_safer_result(result, static_tools, authorized_imports)
    if isinstance(result, str) or (isinstance(result, (list, tuple)) and len(result) <= 10_000):
        # A dunder name as text reaches the attribute through pandas' by-name dispatch: df.agg('__getattribute__')
        names = [result] if isinstance(result, str) else [v for v in result if isinstance(v, str)]
        if any(_DUNDER_NAME.fullmatch(name) for name in names):
            raise InterpreterError("Text naming a dunder attribute ('__name__') is not allowed.")
        return
    if isinstance(result, ModuleType):
        if _is_blocked_module(result.__name__):
            raise InterpreterError(f"Forbidden access to module: {result.__name__}")
        return
    if id(result) in _blocked_callables:
        raise InterpreterError(
            f"Forbidden access to function: {getattr(result, '__name__', 'this function')}"
        )
    kind = result if isinstance(result, type) else type(result)
    module = getattr(kind, "__module__", "") or ""
    if (
        any(module == m or module.startswith(m + ".") for m in _BLOCKED_TYPE_MODULES)
        or kind.__name__ == "Styler"
    ):
        raise InterpreterError(
            f"Forbidden access to {module}.{kind.__name__} objects (templates, pickles, native code)"
        )
    name = getattr(result, "__name__", None)
    if name in ("format", "format_map") and callable(result):
        template = getattr(result, "__self__", None)
        if not isinstance(template, str):  # str.format(template, ...) itself: no need for it
            if template is str or (
                template is None and getattr(result, "__qualname__", "").startswith("str.")
            ):
                raise InterpreterError(
                    "Use f-strings or '...'.format(...) on a literal template instead of str.format."
                )
            return
        fields = _attribute_fields(template)
        if fields:
            raise InterpreterError(
                f"Format fields that read attributes or items ({', '.join(fields[:3])}) are not allowed; "
                "format the values themselves."
            )


_original_evaluate_import = lpe.evaluate_import


def _guarded_evaluate_import(
    expression: ast.AST, state: dict[str, Any], authorized_imports: list[str]
) -> Any:
    """smolagents' import, refusing a private or dunder name: `from numpy import __dict__` reached the builtins
    (smolagents checks dunder names in attributes, not in `from ... import`)."""
    if isinstance(expression, ast.ImportFrom):
        for alias in expression.names:
            if alias.name.startswith("_"):
                raise InterpreterError(f"Import of the private name {alias.name!r} is not allowed.")
    return _original_evaluate_import(expression, state, authorized_imports)


_original_evaluate_call = lpe.evaluate_call
_CALL_TARGET = "_kpi_narrator_call_target"


def _guarded_evaluate_call(
    call: ast.Call,
    state: dict[str, Any],
    static_tools: Tools,
    custom_tools: Tools,
    authorized_imports: list[str],
) -> Any:
    """smolagents' call, with the method being called checked like any other value first.

    smolagents looks a method up with a bare getattr (`pd.read_pickle(...)`, `'{0.x}'.format(df)`), past its
    value checks; here the method is looked up and checked, then called through a temporary name.
    """
    if not isinstance(call.func, ast.Attribute):
        return _original_evaluate_call(call, state, static_tools, custom_tools, authorized_imports)
    if call.func.attr.startswith("__") and call.func.attr.endswith("__"):
        # Only the few smolagents allows, such as `super().__init__()` in a class the code defines.
        if call.func.attr not in lpe.ALLOWED_DUNDER_METHODS:
            raise InterpreterError(f"Forbidden access to dunder attribute: {call.func.attr}")
        return _original_evaluate_call(call, state, static_tools, custom_tools, authorized_imports)
    owner = lpe.evaluate_ast(call.func.value, state, static_tools, custom_tools, authorized_imports)
    if not hasattr(owner, call.func.attr):
        raise InterpreterError(f"Object {owner} has no attribute {call.func.attr}")
    method = getattr(owner, call.func.attr)
    _guarded_check_safer_result(method, static_tools, authorized_imports)
    state[_CALL_TARGET] = method  # read by the call below before its arguments are evaluated
    target = ast.copy_location(ast.Call(ast.Name(_CALL_TARGET, ast.Load()), call.args, call.keywords), call)
    try:
        return _original_evaluate_call(target, state, static_tools, custom_tools, authorized_imports)
    finally:
        state.pop(_CALL_TARGET, None)


_DUNDER_NAME = re.compile(r"__\w+__")
_ATTRIBUTE_ACCESS = re.compile(r"__|[A-Za-z_)\]`]\s*\.\s*[A-Za-z_]")


def _checked_expression(expr: Any) -> None:
    """pandas' query/eval expressions may not read attributes (`a.sum.__globals__` would reach any module)."""
    if isinstance(expr, str) and _ATTRIBUTE_ACCESS.search(expr):
        raise PermissionError(
            "df.query/df.eval expressions may compare and compute with columns, not read attributes; "
            "use pandas methods in the code itself"
        )


def _guard_pandas_expressions(pd: Any) -> None:
    for cls, name in ((pd.DataFrame, "query"), (pd.DataFrame, "eval")):
        original = getattr(cls, name)

        def guarded(self: Any, expr: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            _checked_expression(expr)
            return _original(self, expr, *args, **kwargs)

        guarded.__doc__, guarded.__name__ = original.__doc__, name
        setattr(cls, name, guarded)


def _no_pickle_load(*args: Any, allow_pickle: bool = False, **kwargs: Any) -> Any:
    """numpy.load that never unpickles (a pickle in an .npy file can run any code)."""
    if allow_pickle:
        raise PermissionError("np.load(allow_pickle=True) is not allowed: pickles can run code")
    load = _numpy_load
    if load is None:  # only reachable through install_guards, which sets it first
        raise RuntimeError("np.load is guarded but numpy's own load was not kept")
    return load(*args, allow_pickle=False, **kwargs)


_numpy_load: Callable[..., Any] | None = None


def _module_copy(raw_module: Any, authorized_imports: Any = None, visited: Any = None) -> Any:
    """What `import pandas as pd` gives the agent's code: a copy of the module, as smolagents' `get_safe_module`
    makes, whose nested modules are copied when first used instead of all at once.

    smolagents walks `dir()` of every nested module and reads each name, which makes numpy and pandas import their
    lazy submodules (numpy.f2py, numpy.testing ...): a first `import pandas` took 49 ms (now 8 ms) and
    `import plotly.express` 0.62 s (now 0.23 s, its own import) (issue 19). The values are the same objects, so the blocked callables stay blocked.
    """
    if not isinstance(raw_module, ModuleType):
        return raw_module
    copy = ModuleType(raw_module.__name__)
    raw_names = vars(raw_module)
    for name, value in raw_names.items():
        if not isinstance(value, ModuleType):
            setattr(copy, name, value)

    def nested(name: str) -> Any:  # PEP 562: a name the copy lacks (a nested module, or a lazily loaded one)
        value = getattr(raw_module, name)  # AttributeError as for the module itself
        value = _module_copy(value)
        setattr(copy, name, value)
        return value

    copy.__getattr__ = nested  # type: ignore[method-assign]
    return copy


def install_guards() -> None:
    """Puts the extra checks and the strict name lookup into smolagents' interpreter (once per process).

    They change smolagents' module for the whole process, so they are installed by whoever makes an executor
    (`local_executor`), never at import. Idempotent.
    """
    global _numpy_load
    if lpe.check_safer_result is _guarded_check_safer_result:
        return
    import numpy as np
    import pandas as pd

    lpe.evaluate_name = _strict_evaluate_name
    lpe.check_safer_result = _guarded_check_safer_result
    lpe.check_import_authorized = _guarded_check_import_authorized
    lpe.evaluate_call = _guarded_evaluate_call
    lpe.get_safe_module = _module_copy
    lpe.evaluate_import = _guarded_evaluate_import
    # Builtins that read files or run text as code, should one be reached as a value (`__builtins__` of a module).
    for builtin in (open, eval, exec, compile, __import__, breakpoint, input):
        _blocked_callables.add(id(builtin))
    _guard_pandas_expressions(pd)
    blocked = (
        pd.read_pickle,
        pd.DataFrame.to_pickle,
        pd.Series.to_pickle,
        getattr(pd, "read_hdf", None),
        pd.eval,
    )
    for function in blocked:
        if function is not None:
            _blocked_callables.add(id(function))
    _numpy_load = np.load
    np.load = _no_pickle_load
    _blocked_callables.add(id(_numpy_load))


def local_executor(max_print_chars: int = 20_000) -> LocalPythonExecutor:
    """smolagents' in-process executor with our allow-list.

    No timeout here: smolagents' timeout waits for the hung thread anyway (so it cannot stop it), and it would
    run the code in another thread, away from the run's figure capture.
    """
    install_guards()
    return LocalPythonExecutor(
        AUTHORIZED_IMPORTS, max_print_outputs_length=max_print_chars, timeout_seconds=None
    )
