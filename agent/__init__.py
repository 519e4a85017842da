"""KPI Narrator's agent side: models, the event stream, verification, the CLI."""

# First: the environment defaults (litellm's offline price list) are set before any module here imports litellm.
from agent import settings as _settings  # noqa: F401
