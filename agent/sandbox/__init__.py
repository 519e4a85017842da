"""Where the agent's code runs: a confined, killable worker process and its interpreter guards."""
