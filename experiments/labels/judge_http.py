"""One chat-completions call over HTTP (stdlib only), with retries for transient failures.

Transient: timeouts, refused or reset connections, HTTP 429 and 5xx (Retry-After is honoured).
Fatal at once: 401/403 (the key), 404 (the URL), other 4xx (the request). After the retries a
transient failure becomes :class:`JudgeUnavailable`, a one-line CLI error.
"""

from __future__ import annotations

import json
import logging
import random
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any

from activation_store.core.errors import ToolkitError
from experiments.labels.judge_config import JudgeConfig

log = logging.getLogger(__name__)


class JudgeError(ToolkitError):
    """The judge endpoint refused the request (key, URL or request is wrong)."""


class JudgeUnavailable(JudgeError):
    """The judge endpoint could not be reached or kept failing after every retry."""


class Transient(Exception):
    """A failure worth retrying; ``retry_after`` is the server's hint in seconds, if any."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def backoff_delay(
    config: JudgeConfig, attempt: int, hint: float | None, rng: random.Random
) -> float:
    """Delay before retry ``attempt`` (0-based): exponential with jitter, or the server's hint."""
    if hint is not None:
        return min(max(hint, 0.0), config.max_backoff_s)
    base = config.backoff_s * (2**attempt)
    return min(base * (0.5 + rng.random()), config.max_backoff_s)


def post_chat(
    config: JudgeConfig, api_key: str | None, messages: Sequence[Mapping[str, str]]
) -> str:
    """One POST to ``config.endpoint``; the reply's message content, or an exception.

    Raises :class:`Transient` (retry), :class:`JudgeError` (fatal), or returns the content (which
    may still be malformed; a body without ``choices[0].message.content`` raises ``ValueError``).
    """
    body = json.dumps(
        {"model": config.model, "messages": list(messages), "temperature": config.temperature}
    ).encode()
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    request = urllib.request.Request(config.endpoint, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=config.timeout_s) as response:
            raw = response.read()
    except urllib.error.HTTPError as err:
        raise _http_error(config, err) from err
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise Transient(f"cannot reach {config.endpoint} ({reason})") from err
    return _content(raw)


def _http_error(config: JudgeConfig, err: urllib.error.HTTPError) -> Exception:
    detail = _excerpt(err)
    if err.code == 429 or err.code >= 500:
        hint = err.headers.get("Retry-After") if err.headers else None
        try:
            retry_after = float(hint) if hint is not None else None
        except ValueError:
            retry_after = None
        return Transient(f"HTTP {err.code} from {config.endpoint}{detail}", retry_after)
    if err.code in (401, 403):
        return JudgeError(
            f"the judge at {config.url} refused the API key (HTTP {err.code}){detail}; check the "
            f"variable {config.api_key_env or '(none)'}"
        )
    if err.code == 404:
        return JudgeError(
            f"no chat-completions endpoint at {config.endpoint} (HTTP 404){detail}; the --url "
            "should be the API base, usually ending in /v1"
        )
    return JudgeError(f"the judge rejected the request (HTTP {err.code}){detail}; check --model")


def _excerpt(err: urllib.error.HTTPError) -> str:
    try:
        text = err.read().decode("utf-8", "replace").strip()
    except OSError:
        return ""
    return f": {' '.join(text.split())[:160]}" if text else ""


def _content(raw: bytes) -> str:
    try:
        obj: Any = json.loads(raw.decode("utf-8"))
        content = obj["choices"][0]["message"]["content"]
    except (UnicodeDecodeError, ValueError, KeyError, IndexError, TypeError) as err:
        raise ValueError(f"response is not a chat completion ({type(err).__name__})") from err
    if not isinstance(content, str):
        raise ValueError("response content is not a string")
    return content


def call_with_retries(
    config: JudgeConfig,
    api_key: str | None,
    messages: Sequence[Mapping[str, str]],
    accept: Any,
    rng: random.Random,
) -> tuple[str, Any] | None:
    """Call until ``accept(content)`` returns without raising ``ValueError``; None if it never does.

    Transient failures and malformed replies share the ``max_retries`` budget. When the budget is
    spent, a request that never got a reply raises :class:`JudgeUnavailable`; one whose last reply
    was malformed returns None (recorded as unlabelled, never guessed).
    """
    last_transient: Transient | None = None
    for attempt in range(config.max_retries + 1):
        hint = None
        try:
            content = post_chat(config, api_key, messages)
            return content, accept(content)
        except Transient as err:
            last_transient, hint = err, err.retry_after
            log.info(
                "judge request failed (%s); attempt %d/%d", err, attempt + 1, config.max_retries + 1
            )
        except ValueError as err:
            last_transient = None
            log.info(
                "malformed judge reply (%s); attempt %d/%d",
                err,
                attempt + 1,
                config.max_retries + 1,
            )
        if attempt < config.max_retries:
            time.sleep(backoff_delay(config, attempt, hint, rng))
    if last_transient is not None:
        raise JudgeUnavailable(
            f"judge endpoint unavailable after {config.max_retries + 1} tries: {last_transient}; "
            "check --url and that the server is up (nothing was written)"
        )
    return None
