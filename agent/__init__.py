"""KPI Narrator's agent side: models, the event stream, verification, the CLI."""

# First: the environment defaults (litellm's offline price list) are set before any module here imports litellm.
# Then: smolagents, once imported, without the Hub client it never needs here (agent.light_imports: 0.23 s less).
from agent import light_imports as _light_imports
from agent import settings as _settings  # noqa: F401

_light_imports.install()
