"""KPI Narrator's agent side: models, the event stream, verification, the CLI."""

import os

# litellm fetches its model price list from the internet at import unless told to use its bundled copy; this runs
# before any module of this package can import litellm.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
