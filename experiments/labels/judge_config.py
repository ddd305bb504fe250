"""Settings of the LLM-judge labeller (light: no network or torch import)."""

from __future__ import annotations

from dataclasses import dataclass

from activation_store.core.errors import InputError


class JudgeConfigError(InputError, ValueError):
    """A :class:`JudgeConfig` field has an invalid value."""


@dataclass(frozen=True, kw_only=True)
class JudgeConfig:
    """An OpenAI-compatible chat-completions endpoint and how to call it."""

    url: str = "https://api.openai.com/v1"
    """Judge API base URL; requests go to <url>/chat/completions (vLLM, llama.cpp server, OpenAI…)."""
    model: str = "gpt-4o"
    """Judge model name, sent as "model" (the paper's annotations used GPT-4o)."""
    api_key_env: str = "OPENAI_API_KEY"
    """Environment variable holding the judge's API key ("" for servers that need none)."""
    timeout_s: float = 120.0
    """Seconds to wait for one response before retrying."""
    max_retries: int = 4
    """Retries of a request after timeouts, connection errors, HTTP 429/5xx or a malformed reply."""
    backoff_s: float = 1.0
    """First retry delay; doubles each retry (with jitter), honours Retry-After."""
    max_backoff_s: float = 30.0
    """Longest delay between retries."""
    concurrency: int = 4
    """Requests in flight at once."""
    max_sentences: int = 40
    """Sentences per request; longer traces are split into several requests."""
    context_sentences: int = 10
    """Sentences before a request's first one, shown as context (not labelled) when a trace is
    split into several requests."""
    temperature: float = 0.0
    """Judge sampling temperature."""
    cache_dir: str = ""
    """On-disk cache of valid replies, keyed by (model, prompt, text): re-runs cost nothing ("":
    $BACKTRACK_CACHE/judge, default ~/.cache/backtrack-toolkit/judge)."""

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise JudgeConfigError(f"url={self.url!r} must start with http:// or https://")
        if not self.model:
            raise JudgeConfigError("model is empty; name the judge model, e.g. --model gpt-4o")
        for name in ("max_retries", "context_sentences"):
            if getattr(self, name) < 0:
                raise JudgeConfigError(f"{name}={getattr(self, name)} must be ≥ 0")
        for name in ("concurrency", "max_sentences"):
            if getattr(self, name) < 1:
                raise JudgeConfigError(f"{name}={getattr(self, name)} must be ≥ 1")
        for name in ("timeout_s", "backoff_s", "max_backoff_s", "temperature"):
            if not getattr(self, name) >= 0:
                raise JudgeConfigError(f"{name}={getattr(self, name)} must be ≥ 0")
        if self.timeout_s == 0:
            raise JudgeConfigError("timeout_s must be > 0")

    @property
    def endpoint(self) -> str:
        return self.url.rstrip("/") + "/chat/completions"
