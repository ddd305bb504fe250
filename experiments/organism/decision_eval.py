"""Does the model backtrack *because a step is wrong*? Read at the decision points of fixed traces.

Free sampling cannot answer this for a reasoner that rarely errs (v6 is not trained to write its
injected errors). So both models read the same held-out synthetic traces, which carry one
injected error in most of them, and at every decision point — the token after a solution step,
where a backtracking sentence could start — we measure:

* **teacher-forced**: P(first token of a backtracking sentence), after wrong and after right
  steps, and how well it separates the two (AUROC, bootstrap CI over traces);
* **sampled**: the trace is forced up to the decision point (after its injected wrong step, and
  after a right step whose prefix holds no error), the model continues for a few tokens at the
  evaluation temperature, and the continuation is read with the organism's checker: the share
  that opens a backtracking sentence (Wilson CI).

The opener tokens are the first tokens of the backtracking sentences in the traces themselves,
less those that also open other sentences there (SmolLM2 splits "Hmm" into "H" + "mm", and "H" also
opens "H is true."): the teacher-forced figure undercounts such openers, the sampled one does not.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from activation_store.core.stats import (
    Estimate,
    bootstrap_counts,
    bootstrap_mean,
    percentile_interval,
    wilson_interval,
)
from experiments.organism.chat import decision_tokens, reasoner_tokenizer
from experiments.organism.checker import BACKTRACK_RE
from experiments.organism.config import EvalConfig
from experiments.organism.traces import SyntheticTrace

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

CONTINUATION_TOKENS = 6
"""New tokens sampled at a forced decision point: enough for any backtracking opener."""


@dataclass(frozen=True, kw_only=True)
class DecisionFigures:
    """One model's backtracking at the decision points of the same traces."""

    model: str
    n_after_wrong: int
    """Decision points after an injected wrong step."""
    n_after_right: int
    p_opener_after_wrong: Estimate
    """Mean teacher-forced P(a backtracking opener) after a wrong step (bootstrap CI)."""
    p_opener_after_right: Estimate
    auroc: Estimate
    """How well P(opener) tells wrong from right steps (bootstrap CI over decision points)."""
    sampled_after_wrong: Estimate
    """Share of continuations, forced to just after a wrong step, that backtrack (Wilson)."""
    sampled_after_right: Estimate
    """The same after a right step with no error before it."""
    examples: tuple[str, ...] = ()
    """A few sampled continuations after wrong steps, for the model card."""


def trace_opener_ids(
    tokenizer: PreTrainedTokenizerBase, traces: Sequence[SyntheticTrace]
) -> list[int]:
    """Token ids that start a backtracking sentence in ``traces`` (at their decision points) and
    no other sentence there ("H" opens "Hmm, …" but also "H is true.": left out). Unlike the
    steering runs' :func:`~experiments.steering.runs.decision_points.opener_ids`, which reads a
    list of opener words, these come from the synthetic traces' own phrasings."""
    opens: set[int] = set()
    other: set[int] = set()
    for trace in traces:
        example, points = decision_tokens(tokenizer, trace)
        for i, wrong in points:
            (opens if wrong else other).add(example.input_ids[i])
    found = opens - other
    if not found:
        raise ValueError("no backtracking sentence in the traces: give traces with errors")
    return sorted(found)


def forced_points(
    tokenizer: PreTrainedTokenizerBase, traces: Sequence[SyntheticTrace], seed: int
) -> list[tuple[list[int], bool]]:
    """Per trace: the prefix up to its first wrong step's decision point, and up to a right
    step's decision point with no error before it (either may be missing); ``(ids, wrong)``."""
    rng = random.Random(seed)
    out: list[tuple[list[int], bool]] = []
    for trace in traces:
        example, points = decision_tokens(tokenizer, trace)
        first_wrong = next((i for i, wrong in points if wrong), None)
        clean = [i for i, wrong in points if not wrong and (first_wrong is None or i < first_wrong)]
        if first_wrong is not None:
            out.append((example.input_ids[:first_wrong], True))
        if clean:
            out.append((example.input_ids[: rng.choice(clean)], False))
    return out


def teacher_forced(
    hf_model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    traces: Sequence[SyntheticTrace],
    openers: Sequence[int],
) -> tuple[np.ndarray, np.ndarray]:
    """``(P(opener) at each decision point, whether its step was wrong)`` over ``traces``."""
    from tqdm.auto import tqdm

    device = next(hf_model.parameters()).device
    probs, labels = [], []
    for trace in tqdm(traces, desc="decision points", unit="trace"):
        example, points = decision_tokens(tokenizer, trace)
        if not points:
            continue
        with torch.no_grad():
            logits = hf_model(torch.tensor([example.input_ids], device=device)).logits[0]
        at = torch.tensor([i - 1 for i, _ in points], device=device)
        p = torch.softmax(logits[at].float(), dim=-1)[:, list(openers)].sum(dim=-1)
        probs += p.cpu().tolist()
        labels += [wrong for _, wrong in points]
    return np.asarray(probs), np.asarray(labels, dtype=bool)


def sampled(
    hf_model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    points: Sequence[tuple[list[int], bool]],
    config: EvalConfig,
) -> list[str]:
    """A short continuation of each forced prefix, sampled at the evaluation temperature."""
    from experiments.generation import GenerationConfig, generate

    generation = GenerationConfig(
        max_new_tokens=CONTINUATION_TOKENS,
        temperature=config.eval_temperature,
        seed=config.eval_seed,
        batch_size=config.eval_batch_size,
        stop_at_think_end=False,
    )
    outs = generate(hf_model, tokenizer, [ids for ids, _ in points], generation)
    return [str(tokenizer.decode(o.generated_ids, skip_special_tokens=True)) for o in outs]


def auroc_estimate(scores: np.ndarray, y: np.ndarray, *, seed: int = 0) -> Estimate:
    """AUROC of ``scores`` for ``y`` with a percentile-bootstrap CI over the points."""
    from probes.metrics import ranking_metrics

    weights = np.vstack(
        [np.ones(len(y)), bootstrap_counts(len(y), 1000, np.random.default_rng(seed))]
    )
    aucs, _ = ranking_metrics(scores, y, weights)
    return dataclasses.replace(percentile_interval(float(aucs[0]), aucs[1:]), n=len(y))


def decision_figures(
    model: str, traces: Sequence[SyntheticTrace], config: EvalConfig
) -> DecisionFigures:
    """Load ``model`` and read its backtracking at the decision points of ``traces``."""
    from activation_store.models import ModelConfig, load_hf_model

    hf_model, tokenizer = load_hf_model(ModelConfig(model=model))
    tokenizer = reasoner_tokenizer(tokenizer)
    openers = trace_opener_ids(tokenizer, traces)
    probs, wrong = teacher_forced(hf_model, tokenizer, traces, openers)
    points = forced_points(tokenizer, traces, config.eval_seed)
    texts = sampled(hf_model, tokenizer, points, config)
    opened = [bool(BACKTRACK_RE.match(t.lstrip())) for t in texts]
    after_wrong = [o for o, (_, w) in zip(opened, points, strict=True) if w]
    after_right = [o for o, (_, w) in zip(opened, points, strict=True) if not w]
    return DecisionFigures(
        model=model,
        n_after_wrong=int(wrong.sum()),
        n_after_right=int((~wrong).sum()),
        p_opener_after_wrong=bootstrap_mean(probs[wrong]),
        p_opener_after_right=bootstrap_mean(probs[~wrong]),
        auroc=auroc_estimate(probs, wrong),
        sampled_after_wrong=wilson_interval(sum(after_wrong), len(after_wrong)),
        sampled_after_right=wilson_interval(sum(after_right), len(after_right)),
        examples=tuple(t.strip() for t, (_, w) in list(zip(texts, points, strict=True))[:12] if w),
    )
