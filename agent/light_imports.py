"""Importing smolagents without the Hugging Face Hub client it only needs to share agents and tools on the Hub.

`import smolagents` took 0.36 s after pandas, 0.23 s of it `huggingface_hub.hf_api` (with requests, httpx, httpcore
and trio), loaded for eight functions that smolagents calls only in `push_to_hub` / `from_hub`, which KPI Narrator
never uses. Both the app and every code worker import smolagents, so each run paid it twice (issue 19).

`install()` puts a finder on `sys.meta_path` that watches smolagents' package and the two modules that import those
functions. While such a module runs, the eight names of `huggingface_hub` are `HubFunction`s: the real function is
imported on the first call. Once it is imported they are taken off `huggingface_hub` again, so any other importer
gets the real thing. Nothing else changes: a stand-in is only ever called, never subclassed or matched in `except`
(smolagents' source, 1.26). The code worker also skips smolagents' package `__init__` (`lazy_package_init`), and
`after_import` lets a change to a library wait until something imports it.

`install(stand_in_modules=True)` does the same for modules smolagents imports but KPI Narrator never uses
(`STAND_IN_MODULES`): requests (for agent types read from URLs), smolagents' remote executors (E2B, Docker, Modal,
Blaxel: they import requests too), rich's Markdown and Syntax (for a terminal's output, with pygments) and, in the
code worker, jinja2 (for prompts). While smolagents' modules run, each is a `ModuleStandIn` in `sys.modules`: its
listed names are `DeferredCallable`s and any other name imports the real module (a package's submodule too).
Afterwards they leave `sys.modules`, so later importers get the real modules. 75 ms of the CLI's import of
smolagents and 55 ms of the code worker's start (issue 19). Only for processes that import smolagents on one thread
(the CLI, the code worker): another thread importing one of these modules meanwhile would get the stand-in, which
works but is not the module itself.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import threading
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

# What smolagents 1.26 takes from `huggingface_hub` at import (agents.py and tools.py), all of it only called.
HUB_FUNCTIONS = (
    "CommitOperationAdd",
    "create_commit",
    "create_repo",
    "get_collection",
    "hf_hub_download",
    "metadata_update",
    "snapshot_download",
    "upload_folder",
)
# The module that costs 0.23 s; when something imported it already, there is nothing to save.
HUB_CLIENT_MODULE = "huggingface_hub.hf_api"


class DeferredCallable:
    """Stands in for `module.name` (a class or function smolagents only calls); imports the module when called."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name

    def resolve(self) -> Any:
        """The real `module.name` (importing the module the first time)."""
        return getattr(_real_module(self.module), self.name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.resolve()(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<{self.module}.{self.name}, imported when first called>"


class HubFunction(DeferredCallable):
    """Stands in for one `huggingface_hub` function in smolagents' modules; the real one is imported when called."""

    def __init__(self, name: str) -> None:
        super().__init__("huggingface_hub", name)

    def resolve(self) -> Any:
        """The real `huggingface_hub.<name>` (importing the Hub client the first time)."""
        hub = importlib.import_module("huggingface_hub")
        value = getattr(hub, self.name)
        if isinstance(value, HubFunction):  # called while stand-ins are in place: ask the lazy lookup itself
            value = vars(hub)["__getattr__"](self.name)
        return value


class ModuleStandIn(ModuleType):
    """Stands in for a module in `sys.modules` while smolagents' modules import it: each name of `callables` is a
    `DeferredCallable`; any other name imports the real module and is taken from it."""

    def __init__(
        self, name: str, callables: Sequence[str] = (), spec: importlib.machinery.ModuleSpec | None = None
    ) -> None:
        super().__init__(name)
        self.__spec__ = spec  # importlib.util.find_spec(name) works while the stand-in is in sys.modules
        for attribute in callables:
            setattr(self, attribute, DeferredCallable(name, attribute))
        if callables:
            self.__all__ = list(callables)  # `from smolagents.remote_executors import *`

    def __getattr__(self, attribute: str) -> Any:  # only for names the stand-in lacks
        spec = self.__spec__
        if attribute == "__path__" and spec is not None and spec.submodule_search_locations is not None:
            # A package's submodule is imported (`import requests.adapters`): the real package first.
            return _real_module(self.__name__).__path__
        # `from rich.markdown import Markdown` asks for __path__ and more: a module that is not a package has none.
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        return getattr(_real_module(self.__name__), attribute)


def _real_module(name: str) -> ModuleType:
    """Module `name`, imported for real even while its stand-in is in `sys.modules`."""
    with _lock:
        if isinstance(sys.modules.get(name), ModuleStandIn):
            del sys.modules[name]
    return importlib.import_module(name)


# Modules smolagents 1.26 imports and KPI Narrator never uses, with the names smolagents takes from them (only ever
# called): requests (agent_types.py, remote_executors.py), the remote executors (agents.py, __init__.py), rich's
# Markdown (agents.py, for streamed output in a terminal) and Syntax (monitoring.py: the logger's panels, which
# agent.run.silent_logger never builds); and jinja2, which utils.py imports and only the agent's prompt uses
# (agents.py takes its names at once, so the CLI imports it anyway; the code worker never does).
STAND_IN_MODULES: dict[str, tuple[str, ...]] = {
    "requests": (),
    "jinja2": (),
    "smolagents.remote_executors": ("BlaxelExecutor", "E2BExecutor", "ModalExecutor", "DockerExecutor"),
    "rich.markdown": ("Markdown",),
    "rich.syntax": ("Syntax",),
}


class _WrappedLoader(importlib.abc.Loader):
    """A module's own loader, with `exec_module` left to the subclass; everything else is the wrapped loader's."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self._loader = loader

    def __getattr__(self, name: str) -> Any:  # get_filename, is_package, get_resource_reader, ...
        return getattr(self._loader, name)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)


class _WrappingFinder(importlib.abc.MetaPathFinder):
    """Finds the modules it watches the usual way (the rest of `sys.meta_path`) and wraps their loaders."""

    def __init__(self) -> None:
        self._finding = threading.local()

    def watches(self, fullname: str) -> bool:
        raise NotImplementedError

    def wrap(self, fullname: str, loader: importlib.abc.Loader) -> importlib.abc.Loader:
        raise NotImplementedError

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if not self.watches(fullname) or getattr(self._finding, "name", None) == fullname:
            return None
        self._finding.name = fullname  # the usual search below must not come back here
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            self._finding.name = None
        if spec is not None and spec.loader is not None:
            spec.loader = self.wrap(fullname, spec.loader)
        return spec


class _DeferringLoader(_WrappedLoader):
    """A smolagents module's own loader, run with the Hub functions standing in.

    With `lazy_package_init`, the package's `__init__` (which imports the agents, models, rich, jinja2 ...) waits
    until something asks the package itself for a name: a code worker imports only the interpreter and `Tool`.
    """

    def __init__(
        self, loader: importlib.abc.Loader, lazy_package_init: bool = False, stand_in_modules: bool = False
    ) -> None:
        super().__init__(loader)
        self._lazy_package_init = lazy_package_init
        self._stand_in_modules = stand_in_modules

    def _run(self, module: ModuleType) -> None:
        with _hub_functions_standing_in(), _modules_standing_in(self._stand_in_modules):
            self._loader.exec_module(module)

    def exec_module(self, module: ModuleType) -> None:
        if not self._lazy_package_init:
            self._run(module)
            return

        def finish_init(name: str) -> Any:  # PEP 562: asked only for names the module lacks
            vars(module).pop("__getattr__", None)
            self._run(module)
            return getattr(module, name)

        module.__getattr__ = finish_init  # type: ignore[method-assign]


_lock = threading.Lock()


class _hub_functions_standing_in:
    """Puts a `HubFunction` on `huggingface_hub` for each name it lacks, and takes them off again."""

    def __enter__(self) -> None:
        self.placed: list[str] = []
        if HUB_CLIENT_MODULE in sys.modules or importlib.util.find_spec("huggingface_hub") is None:
            return
        import huggingface_hub  # 0.3 ms: its names are loaded lazily, on first access

        with _lock:
            for name in HUB_FUNCTIONS:
                if name not in vars(huggingface_hub):
                    setattr(huggingface_hub, name, HubFunction(name))
                    self.placed.append(name)
        self.hub = huggingface_hub

    def __exit__(self, *exc: object) -> None:
        with _lock:
            for name in self.placed:
                if isinstance(vars(self.hub).get(name), HubFunction):
                    delattr(self.hub, name)


def _spec_of(name: str) -> importlib.machinery.ModuleSpec | None:
    """Where module `name` would be imported from (its package is imported, not the module); None if nowhere, or
    if its package is smolagents' and not being imported (looking would import all of smolagents)."""
    package = name.rpartition(".")[0]
    if package in _WATCHED and package not in sys.modules:
        return None
    try:
        return importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None


class _modules_standing_in:
    """Puts a `ModuleStandIn` in `sys.modules` for each of `STAND_IN_MODULES` not imported yet, and takes those
    still there off again (the outermost of nested smolagents modules places them; inner ones find them placed)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __enter__(self) -> None:
        self.placed: list[tuple[str, ModuleStandIn]] = []
        if not self.enabled:
            return
        specs = {name: _spec_of(name) for name in STAND_IN_MODULES if name not in sys.modules}
        with _lock:
            for name, spec in specs.items():
                if spec is not None and name not in sys.modules:
                    stand_in = ModuleStandIn(name, STAND_IN_MODULES[name], spec)
                    sys.modules[name] = stand_in
                    self.placed.append((name, stand_in))

    def __exit__(self, *exc: object) -> None:
        with _lock:
            for name, stand_in in self.placed:
                if sys.modules.get(name) is stand_in:
                    del sys.modules[name]


# smolagents' package and the modules that take functions from huggingface_hub or import `STAND_IN_MODULES`.
_WATCHED = ("smolagents", "smolagents.agents", "smolagents.tools", "smolagents.agent_types")


class _SmolagentsFinder(_WrappingFinder):
    """Hands the watched smolagents modules' loaders to `_DeferringLoader`."""

    def __init__(self) -> None:
        super().__init__()
        self.lazy_package_init = False
        self.stand_in_modules = False

    def watches(self, fullname: str) -> bool:
        return fullname in _WATCHED

    def wrap(self, fullname: str, loader: importlib.abc.Loader) -> importlib.abc.Loader:
        lazy = self.lazy_package_init and fullname == "smolagents"
        return _DeferringLoader(loader, lazy_package_init=lazy, stand_in_modules=self.stand_in_modules)


def install(lazy_package_init: bool = False, stand_in_modules: bool = False) -> None:
    """Watches for smolagents' imports (idempotent; nothing to do when smolagents is imported already).

    Args:
        lazy_package_init: Run the package's `__init__` only when a name of `smolagents` itself is asked for
            (`from smolagents import CodeAgent`); `smolagents.local_python_executor` and `smolagents.tools` are
            imported without it. For the code worker, which needs nothing else (issue 19).
        stand_in_modules: `STAND_IN_MODULES` stand in while smolagents imports (see the module docstring): for
            processes that import smolagents on one thread.
    """
    if "smolagents" in sys.modules and not lazy_package_init:
        return
    finder = next((f for f in sys.meta_path if isinstance(f, _SmolagentsFinder)), None)
    if finder is None:
        finder = _SmolagentsFinder()
        sys.meta_path.insert(0, finder)
    finder.lazy_package_init = finder.lazy_package_init or lazy_package_init
    finder.stand_in_modules = finder.stand_in_modules or stand_in_modules


def after_import(name: str, callback: Callable[[ModuleType], None]) -> None:
    """Calls `callback(module)` once module `name` is imported: at once when it is, else right after its import.

    For changes to a library that only matter once something uses it (the worker's `fig.show()` capture), so that
    the change does not import the library itself.
    """
    module = sys.modules.get(name)
    if module is not None:
        callback(module)
        return
    sys.meta_path.insert(0, _AfterImportFinder(name, callback))


class _AfterImportFinder(_WrappingFinder):
    """Runs a callback after one module's loader executed it, once.

    It steps aside when the callback has run, not when the module is merely looked up (`importlib.util.find_spec`
    imports nothing).
    """

    def __init__(self, name: str, callback: Callable[[ModuleType], None]) -> None:
        super().__init__()
        self.name, self.callback = name, callback

    def watches(self, fullname: str) -> bool:
        return fullname == self.name

    def wrap(self, fullname: str, loader: importlib.abc.Loader) -> importlib.abc.Loader:
        return _CallbackLoader(loader, self._done)

    def _done(self, module: ModuleType) -> None:
        sys.meta_path[:] = [finder for finder in sys.meta_path if finder is not self]
        self.callback(module)


class _CallbackLoader(_WrappedLoader):
    def __init__(self, loader: importlib.abc.Loader, callback: Callable[[ModuleType], None]) -> None:
        super().__init__(loader)
        self._callback = callback

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        self._callback(module)
