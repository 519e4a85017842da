"""What a finished run becomes: the CLI text, the reports, the history, the agent-kind comparison."""
