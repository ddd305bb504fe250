"""Measure the organism: sample base and reasoner on held-out problems, score, record norms.

Both models get the *same* prompt token ids — the reasoner's chat prompt ending in
``<|im_start|>assistant\\n<think>\\n`` — and are sampled with the shared generation engine at the
same temperature and seed. Results go to ``results.json`` (figures) and ``samples.jsonl`` (every
generation with its score) in the output directory.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from experiments.organism.config import EvalConfig
from experiments.organism.scoring import Figures, TraceScore, accuracy_gain, figures, score_trace
from experiments.organism.traces import SyntheticTrace

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class ModelEval:
    """One model's samples and figures."""

    model: str
    texts: list[str]
    scores: list[TraceScore]
    figures: Figures


def sample(model: str, traces: Sequence[SyntheticTrace], config: EvalConfig) -> list[str]:
    """Generated completions of ``model`` for the problems of ``traces`` (prompt order)."""
    from activation_store.models import ModelConfig, load_hf_model
    from experiments.generation import GenerationConfig, generate
    from experiments.organism.chat import prompt_ids, reasoner_tokenizer

    hf_model, tokenizer = load_hf_model(ModelConfig(model=model))
    tokenizer = reasoner_tokenizer(tokenizer)
    prompts = [prompt_ids(tokenizer, t.problem.prompt) for t in traces]
    generation = GenerationConfig(
        max_new_tokens=config.eval_max_new_tokens,
        temperature=config.eval_temperature,
        seed=config.eval_seed,
        batch_size=config.eval_batch_size,
        stop_at_think_end=False,
    )
    outs = generate(hf_model, tokenizer, prompts, generation)
    return [
        str(tokenizer.decode(o.generated_ids, skip_special_tokens=True)) for o in outs
    ]  # fmt: skip


def cached_sample(
    model: str, traces: Sequence[SyntheticTrace], config: EvalConfig, cache: Path | None
) -> list[str]:
    """:func:`sample`, saved to ``cache/<model>.json`` and reused for the same problems and config
    (so an interrupted evaluation resumes per model, and models can be sampled in parallel)."""
    key = {
        "config": json.loads(json.dumps(dataclasses.asdict(config))),
        "problems": [t.problem.id for t in traces],
    }
    path = None if cache is None else cache / f"{model.replace('/', '_')}.json"
    if path is not None and path.is_file():
        saved = json.loads(path.read_text())
        if saved.get("key") == key:
            logger.info("reusing the samples of %s from %s", model, path)
            return list(saved["texts"])
    texts = sample(model, traces, config)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"key": key, "texts": texts}))
        tmp.replace(path)
    return texts


def evaluate_model(
    model: str, traces: Sequence[SyntheticTrace], config: EvalConfig, *, cache: Path | None = None
) -> ModelEval:
    """Sample ``model`` (or reuse its cached samples) and score its traces."""
    texts = cached_sample(model, traces, config, cache)
    scores = [score_trace(t.problem, text) for t, text in zip(traces, texts, strict=True)]
    return ModelEval(model=model, texts=texts, scores=scores, figures=figures(scores))


def write_results(
    out: Path, evals: Sequence[ModelEval], config: EvalConfig, extra: dict[str, Any]
) -> dict[str, Any]:
    """``results.json`` (config, figures, paired accuracy gains, ``extra``) and ``samples.jsonl``."""
    out.mkdir(parents=True, exist_ok=True)
    base = evals[0]
    results: dict[str, Any] = {
        "config": dataclasses.asdict(config),
        "figures": {e.model: dataclasses.asdict(e.figures) for e in evals},
        "accuracy_gain_over_base": {
            e.model: dataclasses.asdict(accuracy_gain(e.scores, base.scores)) for e in evals[1:]
        },
        **extra,
    }
    (out / "results.json").write_text(json.dumps(results, indent=2, default=str))
    with (out / "samples.jsonl").open("w") as handle:
        for e in evals:
            for text, s in zip(e.texts, e.scores, strict=True):
                row = {"model": e.model, "text": text, **dataclasses.asdict(s)}
                handle.write(json.dumps(row, default=str) + "\n")
    return results
