"""Decision points of a trace and what a model predicts there, teacher-forced (see
:mod:`experiments.steering.runs.decisions` for the metric and why)."""

from __future__ import annotations

import logging
import operator
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from activation_store.core.errors import InputError

if TYPE_CHECKING:
    import torch

    from experiments.steering.interventions.prefix import SharedPrefix
    from experiments.steering.runs.plan import Condition
    from experiments.traces.record import Trace

log = logging.getLogger(__name__)

SPLITS = ("after_wrong", "after_right", "unknown")
"""What precedes a decision point: a wrong step, a correct step, or a sentence the solver cannot
check."""


@dataclass(frozen=True)
class DecisionPoints:
    """Where one trace's decision points are and what precedes each."""

    trace: Trace
    token_index: list[int]
    """Token whose prediction is read (the first token of a thinking sentence)."""
    split: list[str]
    """after_wrong, after_right or unknown, per point."""


def decision_points(trace: Trace, problem: Any | None) -> DecisionPoints:
    """The decision points of ``trace``: the first token of each generated thinking sentence
    after the first, each labelled by the verdict of the sentence before it."""
    from experiments.labels import segment

    sentences = segment(trace.text, trace.thinking_span)
    verdicts = _verdicts([s.text for s in sentences], problem)
    starts = [end for _, end in trace.token_offsets]
    index, split = [], []
    for i, sentence in enumerate(sentences[1:], start=1):
        token = next((t for t, end in enumerate(starts) if end > sentence.start), None)
        if token is None or token < max(1, trace.n_prompt_tokens):
            continue
        index.append(token)
        split.append(
            {"wrong": "after_wrong", "correct": "after_right"}.get(verdicts[i - 1], "unknown")
        )
    return DecisionPoints(trace, index, split)


def _verdicts(sentences: Sequence[str], problem: Any | None) -> list[str]:
    """The verdict (correct / wrong / unparsed) of each sentence: the problem's solver where a
    sentence matches one of its worked steps, else the arithmetic the sentence states."""
    from experiments.organism.checker import check_step

    out = []
    for text in sentences:
        verdict = "unparsed" if problem is None else check_step(text, problem.steps).verdict
        out.append(arithmetic_verdict(text) if verdict == "unparsed" else verdict)
    return out


_ARITHMETIC = re.compile(r"(-?\d+)\s*([+\-−×x*])\s*(-?\d+)\s*=\s*(-?\d+)")
_OPS = {"+": operator.add, "-": operator.sub, "−": operator.sub, "×": operator.mul,
        "x": operator.mul, "*": operator.mul}  # fmt: skip


def arithmetic_verdict(sentence: str) -> str:
    """``wrong`` when a stated ``a op b = c`` (+, −, ×) is false, ``correct`` when every one is
    true, ``unparsed`` without one; a backtracking sentence's correction counts as stated."""
    found = _ARITHMETIC.findall(sentence)
    if not found:
        return "unparsed"
    ok = [_OPS[op](int(a), int(b)) == int(c) for a, op, b, c in found]
    return "correct" if all(ok) else "wrong"


def opener_ids(tokenizer: Any, words: Sequence[str]) -> list[int]:
    """First tokens of each opener word with and without a leading space (those that are the
    word itself); refuses a list of which none is a token."""
    ids: list[int] = []
    for word in words:
        for variant in (word, " " + word):
            toks = tokenizer.encode(variant, add_special_tokens=False)
            if toks and tokenizer.decode([toks[0]]).strip().lower() == word.lower():
                ids.append(int(toks[0]))
            else:
                log.info("opener %r: its first token is not the word; skipped", variant)
    if not ids:
        raise InputError(f"none of the openers {list(words)} is a single token; give others")
    return sorted(set(ids))


def read_points(
    hf_model: Any,
    points: Sequence[DecisionPoints],
    openers: Sequence[int],
    interventions: Sequence[Any],
    *,
    batch_size: int,
    share: SharedPrefix | None = None,
) -> list[tuple[list[float], torch.Tensor]]:
    """Per trace: the opener log-odds at each decision point and the log-probabilities there
    (``[n_points, vocab]``), one teacher-forced forward per batch with ``interventions``.

    Traces are batched longest first (less padding) and only the decision points' hidden states
    go through the unembedding (a fifth of a SmolLM2 forward at every position); results are in
    the order of ``points``. With ``share``, the blocks below the first steered one run once per
    batch across calls (recorded by the first call that sees a batch, replayed by later ones)."""
    import contextlib

    import torch

    from experiments.steering.interventions.hf import steer_hf

    device = next(hf_model.parameters()).device
    opener_t = torch.tensor(list(openers), device=device)
    body, head = hf_model.base_model, hf_model.get_output_embeddings()
    # causal: the last decision point's prediction needs the tokens before it, no more
    length = [max(p.token_index, default=1) for p in points]
    order = sorted(range(len(points)), key=lambda i: -length[i])
    out: dict[int, tuple[list[float], torch.Tensor]] = {}
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        width = length[rows[0]]
        ids = torch.zeros(len(rows), width, dtype=torch.long)
        mask = torch.zeros(len(rows), width, dtype=torch.long)
        for row, i in enumerate(rows):  # right padding: every row's positions start at 0
            ids[row, : length[i]] = torch.tensor(points[i].trace.token_ids[: length[i]])
            mask[row, : length[i]] = 1
        prompts = [points[i].trace.n_prompt_tokens for i in rows]
        key = tuple((points[i].trace.id, length[i]) for i in rows)
        shared = contextlib.nullcontext() if share is None else share.use(key, interventions)
        with (
            torch.inference_mode(),
            steer_hf(hf_model, interventions, prompt_lengths=prompts),
            shared,
        ):
            hidden = body(input_ids=ids.to(device), attention_mask=mask.to(device))[0]
            for row, i in enumerate(rows):
                read = torch.tensor(
                    [t - 1 for t in points[i].token_index], dtype=torch.long, device=device
                )
                # [1, points, vocab]: the head sees the batch × sequence shape it always does
                logits = head(hidden[row, read][None])[0]
                logp = torch.log_softmax(logits.float(), dim=-1)
                opener = torch.logsumexp(logp[:, opener_t], dim=-1)
                rest = torch.log1p(-opener.exp().clamp(max=1 - 1e-7))
                out[i] = ((opener - rest).tolist(), logp.cpu())
    return [out[i] for i in range(len(points))]


def trace_record(
    condition: Condition,
    dp: DecisionPoints,
    log_odds: Sequence[float],
    logp: torch.Tensor,
    reference: torch.Tensor | None,
) -> dict[str, Any]:
    """One line of ``points.jsonl``: a trace's mean log-odds (overall and per split) and KL."""
    import torch

    def mean(values: Sequence[float]) -> float | None:
        return float(sum(values) / len(values)) if values else None

    metrics: dict[str, float | None] = {"log_odds": mean(log_odds), "n_points": len(log_odds)}
    for split in SPLITS:
        metrics[f"log_odds_{split}"] = mean(
            [x for x, s in zip(log_odds, dp.split, strict=True) if s == split]
        )
    kl = None
    if reference is not None and len(log_odds):
        kl = float(torch.sum(logp.exp() * (logp - reference), dim=-1).mean())
    metrics["kl"] = kl
    return {
        "condition": condition.id,
        "prompt_id": dp.trace.id,
        "model": condition.model,
        "counts": {s: dp.split.count(s) for s in SPLITS},
        "metrics": metrics,
    }
