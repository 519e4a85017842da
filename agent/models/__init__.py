"""The models an agent can use: the built-in analyst, the built-in tool caller, any LiteLLM model."""
