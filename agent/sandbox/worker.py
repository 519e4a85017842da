"""Entry point of the code worker process: `python -m agent.sandbox.worker FD MEMORY_BYTES SCRATCH` (see agent.sandbox.process)."""

import sys

from agent.sandbox.process import _worker_main

if __name__ == "__main__":
    fd, memory_bytes, scratch = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    _worker_main(fd, memory_bytes, scratch)
