"""Generating reasoning traces into a resumable JSONL file."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from activation_store.core.errors import InputError
from experiments.generation import Generation, GenerationConfig, generate
from experiments.prompts import Problem
from experiments.traces.config import TraceConfig
from experiments.traces.jsonl_out import append_lines
from experiments.traces.offsets import token_char_spans
from experiments.traces.prompting import prompt_ids, uses_chat_template
from experiments.traces.record import Trace, iter_traces, thinking_span

log = logging.getLogger(__name__)

RESUME_IGNORES = ("batch_size",)
"""Settings that may change between a run and its resumption (they do not change the traces)."""


@dataclass(frozen=True)
class TraceRunResult:
    """What a :func:`generate_traces` call did."""

    path: Path
    written: int
    """Traces generated and appended by this call."""
    skipped: int
    """Prompts already traced in the file (resumed)."""
    new_tokens: int
    seconds: float

    @property
    def tokens_per_s(self) -> float:
        return self.new_tokens / self.seconds if self.seconds > 0 else float("nan")


def run_settings(gen: GenerationConfig, config: TraceConfig, chat: bool) -> dict[str, Any]:
    """The settings recorded on every trace line (and compared when resuming)."""
    return {
        "generation": asdict(gen),
        "chat_template": chat,
        "plain_template": None if chat else config.plain_template,
        "engine": config.engine,
    }


def generate_traces(
    hf_model: Any,
    tokenizer: Any,
    model_id: str,
    problems: Sequence[Problem],
    out: str | Path,
    gen: GenerationConfig,
    config: TraceConfig | None = None,
    *,
    overwrite: bool = False,
    progress: bool = True,
    vllm: Any = None,
) -> TraceRunResult:
    """Trace every problem not yet in ``out``, appending one line per trace, batch by batch.

    Rerunning continues where an interrupted run stopped; the file must hold traces of the same
    model and settings (else an :class:`InputError` names the difference). ``overwrite`` starts
    the file afresh. With ``config.engine == "vllm"``, ``vllm`` is the
    :class:`~experiments.generation.vllm_engine.VLLMEngine` that generates (``hf_model`` is then
    unused; ``tokenizer`` is the engine's), with the same per-prompt seeds.
    """
    config = config or TraceConfig()
    if (config.engine == "vllm") != (vllm is not None):
        raise ValueError(f"engine={config.engine!r} needs vllm= exactly when it is 'vllm'")
    path = Path(out)
    chat = uses_chat_template(tokenizer, config)
    settings = run_settings(gen, config, chat)
    if overwrite:
        path.unlink(missing_ok=True)
    done = _check_existing(path, model_id, settings, problems)
    pending = [p for p in problems if p.id not in done]
    encoded = {
        p.id: prompt_ids(tokenizer, p.prompt, chat=chat, plain_template=config.plain_template)
        for p in pending
    }
    pending.sort(key=lambda p: -len(encoded[p.id]))
    started, new_tokens = time.perf_counter(), 0
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    bar = tqdm(total=None, unit="tok", desc="traces", disable=not progress, dynamic_ncols=True)
    try:
        for start in range(0, len(pending), gen.batch_size):
            chunk = pending[start : start + gen.batch_size]
            seeds = [_seed(gen.seed, p.id) for p in chunk]
            ids = [encoded[p.id] for p in chunk]
            if vllm is not None:
                outs = vllm.generate(ids, gen, seeds=seeds)
                bar.update(sum(len(o.generated_ids) for o in outs))
            else:
                outs = generate(hf_model, tokenizer, ids, gen, seeds=seeds, bar=bar)
            lines = [
                json.dumps(
                    _trace(p, o, tokenizer, model_id, chat, settings).to_json(), ensure_ascii=False
                )
                for p, o in zip(chunk, outs, strict=True)
            ]
            append_lines(path, lines)
            new_tokens += sum(len(o.generated_ids) for o in outs)
            bar.set_postfix(traces=f"{len(done) + start + len(chunk)}/{len(done) + len(pending)}")
    finally:
        bar.close()
    return TraceRunResult(path, len(pending), len(done), new_tokens, time.perf_counter() - started)


def _seed(seed: int, prompt_id: str) -> int:
    """Per-prompt sampling stream: depends on the seed and the prompt id only (resume-safe)."""
    digest = hashlib.sha256(f"{seed}:{prompt_id}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def _trace(
    problem: Problem,
    out: Generation,
    tokenizer: Any,
    model_id: str,
    chat: bool,
    settings: Mapping[str, Any],
) -> Trace:
    ids = out.prompt_ids + out.generated_ids
    decoded = token_char_spans(tokenizer, ids)
    n_prompt = len(out.prompt_ids)
    gen_start = decoded.spans[n_prompt][0] if out.generated_ids else len(decoded.text)
    gen_end = decoded.spans[-1][0] if out.finish_reason == "eos" else len(decoded.text)
    start, end, closed = thinking_span(decoded.text, gen_start, gen_end)
    return Trace(
        id=problem.id,
        prompt_id=problem.id,
        model_id=model_id,
        prompt=problem.prompt,
        category=problem.category,
        answer=problem.answer,
        split=problem.split,
        chat_template=chat,
        settings=settings,
        text=decoded.text,
        generation_start=gen_start,
        thinking_span=(start, end),
        thinking_closed=closed,
        finish_reason=out.finish_reason,
        n_prompt_tokens=n_prompt,
        token_ids=tuple(ids),
        token_offsets=tuple(decoded.spans),
    )


def _comparable(settings: Mapping[str, Any]) -> dict[str, Any]:
    gen = {k: v for k, v in settings.get("generation", {}).items() if k not in RESUME_IGNORES}
    return {"engine": "hf", **settings, "generation": gen}  # traces before engines were hf


def _check_existing(
    path: Path, model_id: str, settings: Mapping[str, Any], problems: Sequence[Problem]
) -> set[str]:
    """Ids already traced in ``path``, after checking they were made the same way."""
    if not path.exists():
        return set()
    prompts = {p.id: p.prompt for p in problems}
    wanted = _comparable(settings)
    done: set[str] = set()
    for trace in iter_traces(path):
        where = f"{path}: trace {trace.id!r}"
        if trace.model_id != model_id:
            raise InputError(
                f"{where} was generated by {trace.model_id!r}, not {model_id!r}; use another "
                "--out, or --overwrite to start the file afresh"
            )
        have = _comparable(trace.settings)
        if have != wanted:
            diff = _first_difference(have, wanted)
            raise InputError(
                f"{where} was generated with other settings ({diff}); use the same settings, "
                "another --out, or --overwrite"
            )
        if trace.id in prompts and prompts[trace.id] != trace.prompt:
            raise InputError(
                f"{where} has another prompt text than prompt {trace.id!r} now; use another --out"
            )
        done.add(trace.id)
    if done:
        log.info("resuming %s: %d traces already written", path, len(done))
    return done


def _first_difference(have: Mapping[str, Any], wanted: Mapping[str, Any], prefix: str = "") -> str:
    for key in sorted(set(have) | set(wanted)):
        a, b = have.get(key), wanted.get(key)
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            if a != b:
                return _first_difference(a, b, f"{prefix}{key}.")
        elif a != b:
            return f"{prefix}{key} is {a!r} in the file but {b!r} now"
    return "unknown difference"
