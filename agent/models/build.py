"""Choosing the model: the built-in analyst (default) or any LiteLLM model, with keys kept out of every output."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # smolagents is imported only when a model is built: it is slow to import
    from smolagents.models import ChatMessage, Model

from agent.settings import DEFAULT_AGENT_KIND, agent_kind

BUILTIN_NAMES = {"builtin", "builtin-analyst", "built-in"}
RETRY_ATTEMPTS = 4
RETRY_WAIT_S = 1.0
REQUEST_TIMEOUT_S = 120.0
# The environment variable each provider's key usually lives in (litellm reads the same ones).
PROVIDER_KEY_VARIABLES = {
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "gemini": "GEMINI_API_KEY",
    "groq": "GROQ_API_KEY",
    "mistral": "MISTRAL_API_KEY",
    "deepseek": "DEEPSEEK_API_KEY",
    "openrouter": "OPENROUTER_API_KEY",
    "together_ai": "TOGETHERAI_API_KEY",
    "cohere": "COHERE_API_KEY",
    "xai": "XAI_API_KEY",
}
SECRETS_FILE = Path(".streamlit") / "secrets.toml"
NO_KEY = "no-key"  # what is sent to an OpenAI-compatible server when no key was given


class DescribedModel(Protocol):
    """What the runner reads from a model, besides smolagents' `Model` interface. Each attribute is optional: a
    model without it is an LLM named by its `model_id`, answering any agent kind, whose provider counts tokens.

    Attributes:
        label: How the model is named to users ("Built-in analyst (rule-based, not an LLM)").
        rule_based: True for a deterministic model: its token counts are computed here, not by a provider.
        answers: The one agent kind it can answer (`agent.settings.AGENT_KINDS`), or None for any.
        last_usage_estimated: Whether the last reply's token counts were computed here (the provider gave none).
    """

    model_id: str | None
    label: str
    rule_based: bool
    answers: str | None
    last_usage_estimated: bool


def model_label(model: Any) -> str:
    """How a model is named to users: its declared `label`, else its model id."""
    label = getattr(model, "label", None)
    return (
        label if isinstance(label, str) and label else str(getattr(model, "model_id", type(model).__name__))
    )


def usage_estimated(model: Any) -> bool:
    """Whether the model's last token counts were computed here rather than reported by a provider."""
    return bool(getattr(model, "rule_based", False) or getattr(model, "last_usage_estimated", False))


def check_answers(model: Any, kind: str) -> None:
    """Refuses a model that declares it answers another agent kind (the built-in code analyst cannot make JSON tool
    calls).

    Raises:
        ValueError: Naming the model, its kind and the kind asked for.
    """
    answers = getattr(model, "answers", None)
    if answers is not None and answers != kind:
        raise ValueError(
            f"{model_label(model)} answers the {answers} agent, not the {kind} agent: build the model with "
            f"build_model(choice, {kind!r})."
        )


class ModelConfigError(ValueError):
    """The model settings cannot work (a named key variable is not set); the message says what to do."""


@dataclass
class ModelChoice:
    """Which model to run, and how to reach it.

    Attributes:
        model_id: "builtin" for the built-in analyst, or a LiteLLM id such as "openai/gpt-4o-mini".
        api_base: An OpenAI-compatible server (vLLM, llama.cpp, Ollama, LM Studio).
        api_key: The key itself (from the page); never printed.
        api_key_env: The environment variable to read the key from, instead of the provider's usual one.
    """

    model_id: str = "builtin"
    api_base: str | None = None
    api_key: str | None = field(default=None, repr=False)
    api_key_env: str | None = None

    @property
    def is_builtin(self) -> bool:
        return self.model_id.strip().lower() in BUILTIN_NAMES


def key_variable(model_id: str) -> str | None:
    """The usual environment variable of a model's provider (`openai/...` -> OPENAI_API_KEY)."""
    provider = model_id.split("/", 1)[0].lower() if "/" in model_id else "openai"
    return PROVIDER_KEY_VARIABLES.get(provider)


def _secrets_file_value(name: str, path: Path = SECRETS_FILE) -> str | None:
    """A top-level string from .streamlit/secrets.toml, read directly (st.secrets raises when the file is absent)."""
    if not path.is_file():
        return None
    import tomllib

    try:
        value = tomllib.loads(path.read_text(encoding="utf-8")).get(name)
    except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError):
        return None
    return value if isinstance(value, str) and value else None


def resolve_api_key(choice: ModelChoice) -> str | None:
    """The key to send: given, from the named variable, the provider's variable, or .streamlit/secrets.toml.

    Raises:
        ModelConfigError: The named variable is not set, or the key holds a space or line break (the HTTP
            library's own error for that would quote the key).
    """
    if choice.api_key:
        return _checked_key(choice.api_key, "The API key you entered")
    if choice.api_key_env:
        value = os.environ.get(choice.api_key_env)
        if not value:
            raise ModelConfigError(
                f"--api-key-env {choice.api_key_env}: that environment variable is not set."
            )
        return _checked_key(value, f"The API key in {choice.api_key_env}")
    variable = key_variable(choice.model_id)
    if variable is None:
        return None
    if os.environ.get(variable):
        return _checked_key(os.environ[variable], f"The API key in {variable}")
    value = _secrets_file_value(variable)
    return _checked_key(value, f"The API key {variable} in {SECRETS_FILE}") if value else None


def _checked_key(key: str, source: str) -> str:
    if key != key.strip() or any(c.isspace() for c in key):
        raise ModelConfigError(
            f"{source} has a space or line break in it (often a trailing newline); remove it."
        )
    return key


def build_model(choice: ModelChoice, agent: str = DEFAULT_AGENT_KIND) -> Model:
    """The smolagents model for a choice: the agent kind's built-in analyst (`agent.settings`), or LiteLLM."""
    if choice.is_builtin:
        return agent_kind(agent).make_builtin_model()
    key = resolve_api_key(choice)
    variable = key_variable(choice.model_id)
    if key is None and variable and not choice.api_base:
        # Caught here, before a run: the provider's own answer is a 500 "Missing credentials" after the first step.
        raise ModelConfigError(
            f"{choice.model_id} needs an API key and none is set: set {variable} in the "
            "environment or in .streamlit/secrets.toml, or give the key in the settings."
        )
    if key is None and choice.api_base and key_variable(choice.model_id) == "OPENAI_API_KEY":
        # A local OpenAI-compatible server (llama.cpp, vLLM, LM Studio) usually wants no key, but the OpenAI
        # client refuses to send a request without one.
        key = NO_KEY
    return NarratorLiteLLMModel(choice.model_id, api_base=choice.api_base, api_key=key)


def secrets_of(model: object) -> list[str]:
    """Values that must never appear in any output of a run with this model."""
    key = getattr(model, "api_key", None)
    return [key] if isinstance(key, str) and len(key) >= 4 and key != NO_KEY else []


def is_retryable(error: BaseException) -> bool:
    """Rate limits and time-outs are worth another try; a bad key or an unknown model is not."""
    text = f"{type(error).__name__} {error}".lower()
    return any(
        word in text
        for word in (
            "429",
            "rate limit",
            "ratelimit",
            "rate_limit",
            "too many requests",
            "timeout",
            "timed out",
        )
    )


@functools.cache
def _litellm_model_class() -> type[Model]:
    import litellm
    from smolagents import LiteLLMModel
    from smolagents.utils import Retrying

    from agent.models.tokens import count_tokens

    # litellm prints a "Give Feedback / Get Help" banner to stdout on every error.
    litellm.suppress_debug_info = True

    class _NarratorLiteLLMModel(LiteLLMModel):
        """LiteLLMModel with short back-off retries, a request time-out, and token counts it can vouch for.

        When the provider reports no usage (litellm then says 0), the tokens are counted locally and
        `last_usage_estimated` says so.
        """

        def __init__(
            self,
            model_id: str,
            api_base: str | None = None,
            api_key: str | None = None,
            timeout: float = REQUEST_TIMEOUT_S,
            retry_wait: float = RETRY_WAIT_S,
            **kwargs: Any,
        ) -> None:
            # max_retries=0: the openai client's own retries would multiply ours.
            super().__init__(
                model_id=model_id,
                api_base=api_base,
                api_key=api_key,
                timeout=timeout,
                max_retries=0,
                **kwargs,
            )
            # Waits of 2, 4 and 8 x retry_wait (smolagents' jitter multiplies the delay too, up to 64 s).
            self.retryer = Retrying(
                max_attempts=RETRY_ATTEMPTS,
                wait_seconds=retry_wait,
                exponential_base=2.0,
                jitter=False,
                retry_predicate=is_retryable,
                reraise=True,
            )
            self.last_usage_estimated = False

        label = property(lambda self: str(self.model_id))  # an LLM is named by its model id
        rule_based = False
        answers = None  # any agent kind
        # The code agent streams this model's text into the running step (`stream_outputs`, `ev.TextDelta`).
        streams = True

        def __repr__(self) -> str:  # never show the key
            return f"NarratorLiteLLMModel(model_id={self.model_id!r}, api_base={self.api_base!r})"

        def generate(
            self,
            messages: list[Any],
            stop_sequences: list[str] | None = None,
            response_format: dict[str, str] | None = None,
            tools_to_call_from: list[Any] | None = None,
            **kwargs: Any,
        ) -> ChatMessage:
            message = super().generate(
                messages, stop_sequences, response_format, tools_to_call_from, **kwargs
            )
            usage = message.token_usage
            self.last_usage_estimated = usage is None or (
                usage.input_tokens == 0 and usage.output_tokens == 0
            )
            if self.last_usage_estimated:
                from smolagents.monitoring import TokenUsage

                prompt = "\n".join(str(getattr(m, "content", m)) for m in messages)
                message.token_usage = TokenUsage(
                    count_tokens(prompt), count_tokens(str(message.content or ""))
                )
            return message

        def generate_stream(
            self,
            messages: list[Any],
            stop_sequences: list[str] | None = None,
            response_format: dict[str, str] | None = None,
            tools_to_call_from: list[Any] | None = None,
            **kwargs: Any,
        ) -> Any:
            """Streams the answer; a provider that reports no usage gets the tokens counted here (a last delta)."""
            from smolagents.models import ChatMessageStreamDelta
            from smolagents.monitoring import TokenUsage

            text, reported = [], False
            for delta in super().generate_stream(
                messages, stop_sequences, response_format, tools_to_call_from, **kwargs
            ):
                reported = reported or bool(
                    delta.token_usage and (delta.token_usage.input_tokens or delta.token_usage.output_tokens)
                )
                text.append(delta.content or "")
                yield delta
            self.last_usage_estimated = not reported
            if not reported:
                prompt = "\n".join(str(getattr(m, "content", m)) for m in messages)
                usage = TokenUsage(count_tokens(prompt), count_tokens("".join(text)))
                yield ChatMessageStreamDelta(content="", token_usage=usage)

    return _NarratorLiteLLMModel


def NarratorLiteLLMModel(
    model_id: str, api_base: str | None = None, api_key: str | None = None, **kwargs: Any
) -> Model:
    """A LiteLLM model (litellm is imported only when one is asked for: it is slow to import)."""
    return _litellm_model_class()(model_id, api_base=api_base, api_key=api_key, **kwargs)


def describe_model_error(error: BaseException, model_id: str, api_base: str | None = None) -> str:
    """One clear sentence for a provider error, with what to do about it."""
    cause = error
    while cause.__cause__ is not None and not type(cause).__module__.startswith(
        ("litellm", "openai", "httpx")
    ):
        cause = cause.__cause__
    name = type(cause).__name__
    where = f" at {_without_credentials(api_base)}" if api_base else ""
    # Only the first line is looked at, and never shown: provider bodies echo keys, prompts and internals.
    text = str(cause).strip().splitlines()[0][:300] if str(cause).strip() else name
    if "illegal header value" in text.lower() or "invalid header value" in text.lower():
        return "The API key has a space or line break in it (often a trailing newline); remove it."
    if name == "AuthenticationError" or " 401" in text:
        variable = key_variable(model_id) or "the provider's key variable"
        # One sentence for the page and the terminal alike: no CLI flag names.
        return (
            f"The provider refused the API key for {model_id} (401). Check the key you gave, or {variable}."
        )
    if name == "NotFoundError" or " 404" in text:
        return f"The provider{where} does not know the model {model_id!r} (404). Check the model id."
    if name == "APIConnectionError" or any(
        w in text.lower() for w in ("connection error", "connection refused")
    ):
        return f"Could not connect to the model server{where}: is it running, and is the address right?"
    if name == "RateLimitError" or "429" in text:
        return f"The provider kept rate-limiting {model_id} after {RETRY_ATTEMPTS} tries; wait and run again."
    if name == "Timeout" or "timed out" in text.lower():
        return f"{model_id}{where} did not answer in time after {RETRY_ATTEMPTS} tries."
    if not type(cause).__module__.startswith(
        ("litellm", "openai", "httpx")
    ):  # not a provider's body: ours to show
        return f"The model {model_id} failed: {name}: {text}"
    status = getattr(cause, "status_code", None)
    code = f" (HTTP {status})" if isinstance(status, int) else ""
    return f"The model {model_id}{where} failed with {name}{code}; check the model server's own log for why."


def _without_credentials(url: str) -> str:
    """A URL without a user:password part (`http://user:key@host` would show the key)."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
        if parts.username or parts.password:
            parts = parts._replace(netloc=(parts.hostname or "") + (f":{parts.port}" if parts.port else ""))
    except ValueError:
        return "the given address"
    return urlunsplit(parts)
