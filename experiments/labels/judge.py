"""The LLM-judge labeller: an OpenAI-compatible chat model names each sentence's category.

Each trace's sentences go out in requests of at most ``max_sentences`` (with the problem as
context), ``concurrency`` at a time; valid replies are cached on disk (re-runs cost nothing),
malformed ones retried with a repair turn and finally left unlabelled (None). Requests ask for
structured output (the reply's JSON schema) in the first form the server accepts. An unreachable endpoint or a refused
key stops the run with a one-line error before anything is written. The API key is read from the
environment variable ``api_key_env`` only when some request is not cached.
"""

from __future__ import annotations

import logging
import os
import random
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from functools import partial

from tqdm.auto import tqdm

from activation_store.core.errors import InputError
from experiments.labels.judge_cache import ReplyCache, cache_key
from experiments.labels.judge_config import JudgeConfig
from experiments.labels.judge_http import JudgeError, ResponseFormats, call_with_retries
from experiments.labels.judge_prompt import messages, parse_reply, repair_turn, reply_schema
from experiments.labels.labeller import LabelRequest

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Request:
    item: int
    first: int
    """Index of the request's first sentence in its item."""
    n: int
    messages: list[dict[str, str]]
    key: str


class JudgeLabeller:
    """Labels sentences with one of the six categories via an LLM judge (None if it fails)."""

    name = "judge"

    def __init__(
        self,
        config: JudgeConfig,
        *,
        environ: Mapping[str, str] | None = None,
        progress: bool = True,
    ) -> None:
        self.config = config
        self.environ = os.environ if environ is None else environ
        self.cache = ReplyCache(config.cache_dir)
        self.progress = progress
        self._abort = threading.Event()
        self.formats = ResponseFormats()
        """The ``response_format`` form the server accepted, kept across :meth:`label_many` calls."""
        self.stats: dict[str, int | str] = {"requests": 0, "cached": 0, "unlabelled_sentences": 0}
        """Counts of the last :meth:`label_many`: sent requests, cache hits, sentences left None,
        and the ``response_format`` form in use at its end."""

    def config_dict(self) -> dict[str, object]:
        return asdict(self.config)

    def _requests(self, items: Sequence[LabelRequest]) -> list[_Request]:
        out = []
        step = self.config.max_sentences
        for i, item in enumerate(items):
            for first in range(0, len(item.sentences), step):
                chunk = item.sentences[first : first + step]
                context = item.sentences[max(0, first - self.config.context_sentences) : first]
                msgs = messages(item.prompt, chunk, first + 1, context)
                key = cache_key(self.config.model, msgs, self.config.temperature)
                out.append(_Request(i, first, len(chunk), msgs, key))
        return out

    def _api_key(self) -> str | None:
        name = self.config.api_key_env
        if not name:
            return None
        key = self.environ.get(name)
        if not key:
            raise InputError(
                f"the judge's API key variable {name} is not set; export {name}=..., or pass "
                "--api-key-env '' for a server that needs no key"
            )
        return key

    def label_many(self, items: Sequence[LabelRequest]) -> list[list[str | None]]:
        """Labels of every item's sentences; requests run concurrently, cached replies are reused."""
        out: list[list[str | None]] = [[None] * len(item.sentences) for item in items]
        requests = self._requests(items)
        todo = []
        for req in requests:
            cached = self.cache.get(req.key)
            labels = self._parse(cached, req) if cached is not None else None
            if labels is None:
                todo.append(req)
            else:
                out[req.item][req.first : req.first + req.n] = labels
        self.stats = {
            "requests": len(todo),
            "cached": len(requests) - len(todo),
            "unlabelled_sentences": 0,
        }
        if todo:
            self._run(todo, self._api_key(), out)
        self.stats["unlabelled_sentences"] = sum(
            label is None for labels in out for label in labels
        )
        self.stats["response_format"] = self.formats.mode
        return out

    def _parse(self, content: str, req: _Request) -> list[str | None] | None:
        try:
            return list(parse_reply(content, req.first + 1, req.n))
        except ValueError:
            return None

    def _run(self, todo: list[_Request], api_key: str | None, out: list[list[str | None]]) -> None:
        bar = tqdm(total=len(todo), unit="req", desc="judge", disable=not self.progress)
        self._abort = threading.Event()
        with ThreadPoolExecutor(max_workers=self.config.concurrency) as pool:
            futures = {
                pool.submit(self._one, req, api_key, random.Random(req.key)): req for req in todo
            }
            pending = set(futures)
            try:
                while pending:
                    done, pending = wait(pending, return_when=FIRST_EXCEPTION)
                    for future in done:
                        req, labels = futures[future], future.result()
                        if labels is not None:
                            out[req.item][req.first : req.first + req.n] = labels
                        bar.update(1)
            finally:
                for future in pending:
                    future.cancel()
                bar.close()

    def _one(
        self, req: _Request, api_key: str | None, rng: random.Random
    ) -> list[str | None] | None:
        if self._abort.is_set():  # another request failed for good: send no more
            return None
        first, n = req.first + 1, req.n
        accept = partial(parse_reply, first_number=first, n=n)
        try:
            result = call_with_retries(
                self.config,
                api_key,
                req.messages,
                accept,
                rng,
                formats=self.formats,
                schema=reply_schema(first, n),
                repair=lambda reply, error: repair_turn(reply, error, first, n),
            )
        except JudgeError:
            self._abort.set()
            raise
        if result is None:
            log.warning("judge gave no valid labels for %d sentences; they stay unlabelled", req.n)
            return None
        content, labels = result
        self.cache.put(req.key, content, self.config.model)
        return list(labels)
