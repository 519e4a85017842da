"""Importing smolagents without the Hugging Face Hub client it only needs to share agents and tools on the Hub.

`import smolagents` took 0.36 s after pandas, 0.23 s of it `huggingface_hub.hf_api` (with requests, httpx, httpcore
and trio), loaded for eight functions that smolagents calls only in `push_to_hub` / `from_hub`, which KPI Narrator
never uses. Both the app and every code worker import smolagents, so each run paid it twice (issue 19).

`install()` puts a finder on `sys.meta_path` that waits for the first `import smolagents`. While smolagents' modules
run, those eight names of `huggingface_hub` are `HubFunction`s: the real function is imported on the first call. Once
smolagents is imported they are taken off `huggingface_hub` again, so any other importer gets the real thing. Nothing
else changes: a stand-in is only ever called, never subclassed or matched in `except` (smolagents' source, 1.26).
Standard library only: importing this module costs nothing.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import threading
from collections.abc import Sequence
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


class HubFunction:
    """Stands in for one `huggingface_hub` function in smolagents' modules; the real one is imported when called."""

    def __init__(self, name: str) -> None:
        self.name = name

    def resolve(self) -> Any:
        """The real `huggingface_hub.<name>` (importing the Hub client the first time)."""
        return getattr(importlib.import_module("huggingface_hub"), self.name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.resolve()(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<huggingface_hub.{self.name}, imported when first called>"


class _DeferringLoader(importlib.abc.Loader):
    """smolagents' own loader, run with the Hub functions standing in."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self._loader = loader

    def __getattr__(self, name: str) -> Any:  # get_filename, is_package, get_resource_reader, ...
        return getattr(self._loader, name)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        with _hub_functions_standing_in():
            self._loader.exec_module(module)


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


class _SmolagentsFinder(importlib.abc.MetaPathFinder):
    """Finds smolagents the usual way, once, and hands its loader to `_DeferringLoader`."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "smolagents":
            return None
        uninstall()  # one import is all it watches; find_spec below must not find this finder again
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _DeferringLoader(spec.loader)
        return spec


def install() -> None:
    """Watches for the first `import smolagents` (idempotent; nothing to do when smolagents is imported already)."""
    if "smolagents" in sys.modules or any(isinstance(f, _SmolagentsFinder) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _SmolagentsFinder())


def uninstall() -> None:
    """Stops watching (smolagents then imports the Hub client as usual)."""
    sys.meta_path[:] = [finder for finder in sys.meta_path if not isinstance(finder, _SmolagentsFinder)]
