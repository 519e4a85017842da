"""Entry point of the code worker process: `python -m agent.sandbox.worker FD MEMORY_BYTES SCRATCH` (see agent.sandbox.process)."""

import sys

from agent import light_imports

# The worker runs smolagents' interpreter and tools, never an agent: the package's __init__ (agents, models, rich,
# jinja2) waits until something asks for it, and requests until something uses it. It imports on one thread.
light_imports.install(lazy_package_init=True, stand_in_modules=True)

from agent.sandbox.process import _worker_main  # noqa: E402

if __name__ == "__main__":
    fd, memory_bytes, scratch = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    _worker_main(fd, memory_bytes, scratch)
