"""The evaluation stage of ``backtrack organism build``: acceptance figures (free samples, and the
decision points of the held-out traces) and norm calibration."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from activation_store.models.hooks import hook_name
from experiments.organism.decision_eval import decision_figures
from experiments.organism.evaluate import EvalConfig, evaluate_model, write_results
from experiments.organism.traces import SyntheticTrace

logger = logging.getLogger(__name__)

WINDOWS = ((-12, -8), (-4, -1))
"""Windows (offsets from a backtracking sentence's first token) whose direction norms are
recorded: the paper's −12…−8, and one right before the backtrack (in ~100-token traces the
paper's window often falls on the erroneous step itself)."""


@contextlib.contextmanager
def adapter_override(directory: Path | None) -> Iterator[None]:
    """Make ``smollm2-135m-reasoner`` load the adapter in ``directory`` for the duration."""
    from activation_store.models.smollm2 import ADAPTER_ENV

    if directory is None:
        yield
        return
    saved = os.environ.get(ADAPTER_ENV)
    os.environ[ADAPTER_ENV] = str(directory)
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(ADAPTER_ENV, None)
        else:
            os.environ[ADAPTER_ENV] = saved


def run_eval_stage(
    out: Path, heldout: Sequence[SyntheticTrace], config: EvalConfig, *, adapter: Path | None
) -> dict[str, Any]:
    """Sample every model on the held-out problems, score them, record norms; write eval/."""
    traces = list(heldout[: config.eval_problems])
    with adapter_override(adapter):
        evals = [
            evaluate_model(m, traces, config, cache=out / "eval" / "samples")
            for m in config.eval_models
        ]
        decisions = [
            dataclasses.asdict(decision_figures(m, list(heldout), config))
            for m in config.eval_models
        ]
        norms = calibration(traces, evals[-1].texts, config)
    extra = {"decision_points": decisions, "calibration": norms}
    return write_results(out / "eval", evals, config, extra)


def calibration(
    traces: Sequence[SyntheticTrace], reasoner_texts: Sequence[str], config: EvalConfig
) -> dict[str, Any]:
    """Mean residual norms of every model on the reasoner's samples; base-model direction norms."""
    from activation_store.models import ModelConfig, load_hf_model
    from experiments.organism.chat import prompt_ids, reasoner_tokenizer
    from experiments.organism.norms import direction_norms, mean_resid_norms

    out: dict[str, Any] = {"mean_resid_norm": {}, "direction_norms": []}
    for model in config.eval_models:
        hf_model, tokenizer = load_hf_model(ModelConfig(model=model))
        tokenizer = reasoner_tokenizer(tokenizer)
        sequences = []
        for trace, text in zip(traces, reasoner_texts, strict=True):
            prompt = prompt_ids(tokenizer, trace.problem.prompt)
            generated = list(tokenizer(text, add_special_tokens=False).input_ids)
            sequences.append((prompt + generated, len(prompt)))
        norms = mean_resid_norms(hf_model, sequences, config.norm_layers)
        out["mean_resid_norm"][model] = {hook_name("resid_post", k): v for k, v in norms.items()}
        if model == config.eval_models[0]:
            found = direction_norms(hf_model, tokenizer, traces, config.norm_layers, WINDOWS)
            out["direction_norms"] = [dataclasses.asdict(d) for d in found]
    return out
