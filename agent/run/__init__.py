"""Running the agent: the event stream, the runner that emits it, results folded from it, sessions."""
