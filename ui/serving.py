"""Who may change what: a local user keeps every setting, visitors of a served app get the operator's choices.

`streamlit run app.py` binds to localhost (`.streamlit/config.toml`). Serving the page to others is the operator's
deliberate choice, and so is what visitors may set. The operator writes it in the `[serving]` table of
`.streamlit/secrets.toml` (or of the TOML file named by `$KPI_NARRATOR_SETTINGS`):

    [serving]
    mode = "auto"                  # "auto" (default), "local" or "served"
    visitors_choose_model = false  # true: visitors may type any model id, API base and key (trusted networks only)
    models = ["builtin", "openai/gpt-4o-mini"]   # what visitors may pick (default: the built-in analyst only)

    max_runs = 2                   # runs at once; more wait in a queue (default: the machine's cores)
    memory_budget_mb = 8000        # runs and loaded files together (default: 3/4 of the machine's memory)
    file_cache_mb = 1024           # loaded files kept for reruns (default 1024), at most
    file_cache_entries = 16        # ... this many files (default 16)
    file_cache_ttl_s = 3600        # ... for this long (default an hour)

    [serving.api_base]             # an OpenAI-compatible server for a model of the list
    "openai/my-model" = "http://localhost:8000/v1"

    [serving.api_key_env]          # the environment variable holding that model's key
    "openai/my-model" = "MY_SERVER_KEY"

In "auto" mode the app counts as served unless everything says local: the server listens on a loopback address,
the browser connects from one, names a loopback host and loaded the page from one (`Origin`), and no proxy header
(`X-Forwarded-For`, `Forwarded`, ...) came with the request. So `--server.address 0.0.0.0` or a reverse proxy
turns the visitor view on; only a local user gets the free model, API base and key fields, because those let
whoever types them make the server send requests (and the data's summary) to any URL.

Run history: with login configured (`st.login`, an `[auth]` table in secrets.toml) each run belongs to the
logged-in user; in a served app without login, to the browser session that made it. A local user without login
sees every run of the local history.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from agent.models.build import SECRETS_FILE, ModelChoice

MODES = ("auto", "local", "served")
PROXY_HEADERS = ("X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Real-Ip", "Forwarded")
LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


class SettingsError(ValueError):
    """The operator's `[serving]` table cannot be used; the message names the file and the setting."""


@dataclass
class ServingSettings:
    """The operator's choices for a served app (see the module docstring)."""

    mode: str = "auto"
    visitors_choose_model: bool = False
    models: list[str] = field(default_factory=lambda: ["builtin"])
    api_base: dict[str, str] = field(default_factory=dict)
    api_key_env: dict[str, str] = field(default_factory=dict)
    max_runs: int = 0  # 0: the machine's cores
    memory_budget_mb: float = 0  # 0: 3/4 of the machine's memory
    file_cache_mb: float = 1024
    file_cache_entries: int = 16
    file_cache_ttl_s: float = 3600

    def run_limits(self) -> tuple[int, int]:
        """(runs at once, memory budget in bytes) with the defaults filled in."""
        from agent.run.queue import machine_memory_bytes

        runs = self.max_runs or os.cpu_count() or 1
        budget = (
            int(self.memory_budget_mb * 1024**2) if self.memory_budget_mb else machine_memory_bytes() * 3 // 4
        )
        return runs, budget

    def choice(self, model_id: str) -> ModelChoice:
        """The operator's settings for one model of the list; anything else is refused."""
        if model_id not in self.models:
            raise SettingsError(
                f"model {model_id!r} is not one of this server's models: {', '.join(self.models)}."
            )
        return ModelChoice(
            model_id, api_base=self.api_base.get(model_id), api_key_env=self.api_key_env.get(model_id)
        )


def settings_path() -> Path:
    """$KPI_NARRATOR_SETTINGS, else .streamlit/secrets.toml."""
    return Path(os.environ.get("KPI_NARRATOR_SETTINGS") or SECRETS_FILE)


def load_settings(path: Path | None = None) -> ServingSettings:
    """The `[serving]` table of the settings file; defaults when the file or the table is absent."""
    path = path or settings_path()
    if not path.is_file():
        return ServingSettings()
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8")).get("serving") or {}
    except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError) as error:
        raise SettingsError(f"{path}: cannot read it as TOML ({error}).") from None
    return parse_settings(table, str(path))


def parse_settings(table: dict[str, Any], where: str = "settings") -> ServingSettings:
    """Checks a `[serving]` table and turns it into settings."""
    mode = table.get("mode", "auto")
    if mode not in MODES:
        raise SettingsError(f"{where}: serving.mode is {mode!r}; write one of {', '.join(MODES)}.")
    choose = table.get("visitors_choose_model", False)
    if not isinstance(choose, bool):
        raise SettingsError(f"{where}: serving.visitors_choose_model must be true or false.")
    models = table.get("models", ["builtin"])
    if (
        not isinstance(models, list)
        or not models
        or not all(isinstance(m, str) and m.strip() for m in models)
    ):
        raise SettingsError(
            f'{where}: serving.models must be a non-empty list of model ids, e.g. ["builtin"].'
        )
    mappings = {}
    for name in ("api_base", "api_key_env"):
        mapping = table.get(name, {})
        if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
            raise SettingsError(
                f'{where}: serving.{name} must map model ids to text, e.g. "openai/m" = "...".'
            )
        mappings[name] = mapping
    limits = {}
    for name, kind, example in _LIMITS:
        value = table.get(name, getattr(ServingSettings, name))
        if isinstance(value, bool) or not isinstance(value, kind) or value < 0:
            raise SettingsError(f"{where}: serving.{name} must be a number of 0 or more, e.g. {example}.")
        limits[name] = value
    return ServingSettings(mode, choose, [m.strip() for m in models], **mappings, **limits)


# The queue's and the file cache's settings: name, accepted types, an example for the message.
_LIMITS = (
    ("max_runs", int, "2"),
    ("memory_budget_mb", (int, float), "8000"),
    ("file_cache_mb", (int, float), "1024"),
    ("file_cache_entries", int, "16"),
    ("file_cache_ttl_s", (int, float), "3600"),
)


def is_loopback(host: str | None) -> bool:
    """Whether an address or host name (with or without a port) is this machine only; empty means every interface."""
    if not host:
        return False
    name = host.strip().lower()
    if name.startswith("["):  # [::1]:8501
        name = name[1:].split("]", 1)[0]
    elif name.count(":") == 1:  # localhost:8501, 127.0.0.1:8501
        name = name.split(":", 1)[0]
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def is_served(
    settings: ServingSettings,
    server_address: str | None,
    client_ip: str | None,
    host: str | None,
    origin: str | None = None,
    proxied: bool = False,
) -> bool:
    """Whether this page is seen by others: the operator said so, or anything about the connection is not local.

    Args:
        settings: The operator's settings (`mode`).
        server_address: Streamlit's `server.address` (empty: every interface).
        client_ip: The browser's address (None when unknown or, in Streamlit, when it is this machine).
        host: The `Host` header the browser sent.
        origin: The `Origin` header: the site the browser loaded the page from, which a reverse proxy that rewrites
            `Host` to localhost leaves alone.
        proxied: Whether the request carries a proxy's `X-Forwarded-*` or `Forwarded` header.
    """
    if settings.mode != "auto":
        return settings.mode == "served"
    origin_host = urlsplit(origin).hostname if origin else None
    # An unknown client address or host (no browser connection: a script or a test) is no sign of a visitor.
    seen = [value for value in (client_ip, host, origin_host) if value]
    return proxied or not (is_loopback(server_address) and all(is_loopback(value) for value in seen))


def history_owner(served: bool, user: dict[str, Any] | None, session_token: str) -> str | None:
    """Whose runs the history shows and saves: the logged-in user, else (served) this session, else (local) all."""
    if user and user.get("is_logged_in"):
        identity = user.get("sub") or user.get("email")
        if identity:
            return f"user:{user.get('iss') or ''}:{identity}"
    return f"session:{session_token}" if served else None


def new_session_token() -> str:
    return uuid.uuid4().hex


def file_cache(settings: ServingSettings):
    """The app's loaded-file cache, bounded as the operator set (`ui.file_cache`)."""
    from ui.file_cache import shared_file_cache

    return shared_file_cache(
        int(settings.file_cache_mb * 1024**2), settings.file_cache_entries, settings.file_cache_ttl_s
    )


def session_liveness() -> Callable[[], bool] | None:
    """Whether this browser session is still connected, as a callable the run queue asks from its own thread.

    Streamlit calls nothing when a tab closes, but its runtime knows which sessions have a live connection
    (`Runtime.is_active_session`, safe on any thread). None outside a served runtime (AppTest, a script): the
    queue's idle time-out applies there.
    """
    from streamlit.runtime import Runtime
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    context = get_script_run_ctx()
    if context is None or not Runtime.exists():
        return None
    runtime, session_id = Runtime.instance(), context.session_id
    return lambda: runtime.is_active_session(session_id)


def run_queue(settings: ServingSettings):
    """The app's run queue (`agent.run.queue`): the operator's limits, the file cache counted in its budget."""
    from agent.run.queue import shared_queue

    runs, budget = settings.run_limits()
    cache = file_cache(settings)
    return shared_queue(runs, budget, lambda: cache.bytes_held)
