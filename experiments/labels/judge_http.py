"""One chat-completions call over HTTP (stdlib only), with retries for transient failures.

Transient: timeouts, refused or reset connections, HTTP 408, 429 and 5xx (Retry-After is honoured).
Fatal at once: 401/403 (the key), 404 (the URL), other 4xx (the request). After the retries a
transient failure becomes :class:`JudgeUnavailable`, a one-line CLI error.

Structured output: requests carry a ``response_format`` naming the JSON schema of the reply. A
server that refuses it (HTTP 4xx other than 401/403/404/408/429, or a 5xx whose error names the
``response_format``, as llama-cpp-python's server answers) is asked again with the schema
in the ``json_object`` form that llama.cpp's servers read, then with a bare ``json_object``, then
with no ``response_format``; the first form that works is kept for the rest of the run
(:class:`ResponseFormats`). A malformed reply is retried with a repair turn (the reply and what
was wrong with it), so that a retry at temperature 0 does not repeat the same reply.

Redirects are followed only within the endpoint's origin (scheme, host and port), re-sending the
same POST; a redirect to another origin is refused, so the API key never leaves the origin given
with ``--url``.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from activation_store.core.errors import ToolkitError
from experiments.labels.judge_config import JudgeConfig

log = logging.getLogger(__name__)

MAX_REDIRECTS = 5
"""Same-origin redirects followed for one request at most."""


class JudgeError(ToolkitError):
    """The judge endpoint refused the request (key, URL or request is wrong)."""


class JudgeUnavailable(JudgeError):
    """The judge endpoint could not be reached or kept failing after every retry."""


class JudgeRejected(JudgeError):
    """The judge endpoint refused the request itself (HTTP 400, 422, …): maybe its format."""


FORMAT_MODES = ("json_schema", "json_object_schema", "json_object", "none")
"""``response_format`` forms, tried in this order until the server accepts one:
``{"type": "json_schema", "json_schema": {...}}`` (OpenAI, vLLM, llama.cpp's llama-server),
``{"type": "json_object", "schema": ...}`` (llama-cpp-python's server, llama-server),
``{"type": "json_object"}``, and none at all."""


class ResponseFormats:
    """Which ``response_format`` form the server accepts; shared by a run's concurrent requests."""

    def __init__(self, mode: str = FORMAT_MODES[0]) -> None:
        if mode not in FORMAT_MODES:
            raise ValueError(f"unknown response_format mode {mode!r}; known: {FORMAT_MODES}")
        self.mode = mode
        self._lock = threading.Lock()

    def payload(self, mode: str, schema: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """The ``response_format`` of ``mode`` for replies matching ``schema`` (None: send none)."""
        if mode == "none" or (schema is None and mode != "json_object"):
            return None
        if mode == "json_schema":
            return {
                "type": "json_schema",
                "json_schema": {"name": "sentence_labels", "strict": True, "schema": schema},
            }
        if mode == "json_object_schema":
            return {"type": "json_object", "schema": schema}
        return {"type": "json_object"}

    def refused(self, mode: str) -> bool:
        """The server refused ``mode``: step down to the next form (once, whichever request saw
        it first). False when there is no form left to try."""
        with self._lock:
            if mode != self.mode:
                return True  # another request stepped down already
            i = FORMAT_MODES.index(mode)
            if i + 1 == len(FORMAT_MODES):
                return False
            self.mode = FORMAT_MODES[i + 1]
        log.info("the judge refused response_format %s; trying %s", mode, self.mode)
        return True


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
    config: JudgeConfig,
    api_key: str | None,
    messages: Sequence[Mapping[str, str]],
    response_format: Mapping[str, Any] | None = None,
) -> str:
    """One POST to ``config.endpoint``; the reply's message content, or an exception.

    Raises :class:`Transient` (retry), :class:`JudgeError` (fatal), or returns the content (which
    may still be malformed; a body without ``choices[0].message.content`` raises ``ValueError``).
    """
    request_body: dict[str, Any] = {
        "model": config.model,
        "messages": list(messages),
        "temperature": config.temperature,
    }
    if response_format is not None:
        request_body["response_format"] = dict(response_format)
    body = json.dumps(request_body).encode()
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    url = config.endpoint
    for _ in range(MAX_REDIRECTS + 1):
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with _OPENER.open(request, timeout=config.timeout_s) as response:
                return _content(response.read())
        except urllib.error.HTTPError as err:
            if err.code not in _REDIRECTS:
                raise _http_error(config, err) from err
            url = _redirect_target(config, url, err)
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise Transient(f"cannot reach {config.endpoint} ({reason})") from err
    raise JudgeError(
        f"the judge at {config.endpoint} redirected more than {MAX_REDIRECTS} times; give the "
        "final URL as --url"
    )


_REDIRECTS = (301, 302, 303, 307, 308)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Hands every redirect back to :func:`post_chat` as an ``HTTPError``, to check its origin."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = -1  # a malformed port matches nothing
    return scheme, (parts.hostname or "").lower(), port or {"http": 80, "https": 443}.get(scheme)


def _redirect_target(config: JudgeConfig, url: str, err: urllib.error.HTTPError) -> str:
    """The absolute target of a redirect from ``url``, if it stays in the same origin."""
    location = err.headers.get("Location") if err.headers else None
    if not location:
        raise JudgeError(
            f"the judge at {url} answered HTTP {err.code} without a Location; check --url"
        )
    target = urllib.parse.urljoin(url, location)
    if _origin(target) != _origin(url):
        raise JudgeError(
            f"the judge at {url} redirected (HTTP {err.code}) to {target}, another origin; "
            "refused so that the API key is not sent there; give the right --url"
        )
    log.debug("judge redirect (HTTP %d) %s → %s", err.code, url, target)
    return target


def _http_error(config: JudgeConfig, err: urllib.error.HTTPError) -> Exception:
    text = _body(err)
    detail = f": {' '.join(text.split())[:160]}" if text else ""
    if err.code >= 500 and "response_format" in text:
        # llama-cpp-python's server answers a response_format it cannot validate with HTTP 500
        return JudgeRejected(
            f"the judge cannot take the request's response_format (HTTP {err.code}){detail}"
        )
    if err.code in (408, 429) or err.code >= 500:
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
    return JudgeRejected(f"the judge rejected the request (HTTP {err.code}){detail}; check --model")


def _body(err: urllib.error.HTTPError) -> str:
    try:
        return err.read(65536).decode("utf-8", "replace").strip()
    except OSError:
        return ""


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
    *,
    formats: ResponseFormats | None = None,
    schema: Mapping[str, Any] | None = None,
    repair: Callable[[str, str], list[dict[str, str]]] | None = None,
) -> tuple[str, Any] | None:
    """Call until ``accept(content)`` returns without raising ``ValueError``; None if it never does.

    Transient failures and malformed replies share the ``max_retries`` budget. When the budget is
    spent, a request that never got a reply raises :class:`JudgeUnavailable`; one whose last reply
    was malformed returns None (recorded as unlabelled, never guessed). With ``formats``, the
    request asks for replies matching ``schema`` in the form the server accepts (a refused form is
    replaced at once, outside the budget). After a malformed reply, ``repair(reply, error)`` gives
    the messages appended to the next try.
    """
    formats = formats or ResponseFormats("none")
    last_transient: Transient | None = None
    extra: list[dict[str, str]] = []
    attempt = 0
    while attempt <= config.max_retries:
        hint, content = None, None
        mode = formats.mode
        try:
            content = post_chat(config, api_key, [*messages, *extra], formats.payload(mode, schema))
            return content, accept(content)
        except JudgeRejected:
            if mode != "none" and formats.refused(mode):
                continue
            raise
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
            if repair is not None and content is not None:  # a reply, but not the one asked for
                extra = repair(content, str(err))
        if attempt < config.max_retries:
            time.sleep(backoff_delay(config, attempt, hint, rng))
        attempt += 1
    if last_transient is not None:
        raise JudgeUnavailable(
            f"judge endpoint unavailable after {config.max_retries + 1} tries: {last_transient}; "
            "check --url and that the server is up (nothing was written)"
        )
    return None
