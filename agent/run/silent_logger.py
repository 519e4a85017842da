"""smolagents' logger with nothing to show: the run's events carry every step, thought, code and error.

smolagents prints step errors even at verbosity 0 and builds a rich panel for every step (a `Syntax` of its code,
a `Rule`, the task's `Panel`) before it looks at the level. `SilentLogger` builds none of them, so a run needs
neither rich's syntax highlighting nor pygments (10 ms of the CLI's start, issue 19), and its console is quiet.
"""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console
from smolagents.monitoring import AgentLogger, LogLevel


class SilentLogger(AgentLogger):
    """An `AgentLogger` that logs nothing (pass it as `logger=` to an agent)."""

    def __init__(self) -> None:
        super().__init__(level=LogLevel.OFF, console=Console(file=io.StringIO(), quiet=True))

    def _nothing(self, *args: Any, **kwargs: Any) -> None:
        return None

    # Every method that builds or prints something (smolagents 1.26's AgentLogger).
    log = log_error = log_markdown = log_code = log_rule = log_task = log_messages = _nothing
    visualize_agent_tree = _nothing
