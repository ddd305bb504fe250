"""Before finetuning: does the *base* model already represent "the fact just stated is false"?

The repurposing question (does finetuning make a base-model representation trigger
backtracking?) is only testable if the base model carries such a representation. So the base
model reads the held-out synthetic traces, teacher-forced, and a linear probe on its residual
stream (``blocks.L.hook_resid_post``) at each offset before a decision point (the token after a
solution step) tells steps with an injected error from right steps. Negatives are matched by
construction: right steps at the same offset from the same kind of line end, in the same
template. A token-identity probe at the same offset (one-hot of the token there) is the baseline
the residual probe must beat. Probes are scored by cross-validation grouped by trace (no trace in
both the training and the test fold); AUROC with a bootstrap CI over decision points.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from activation_store.core.stats import Estimate
from activation_store.models.hooks import hook_name
from experiments.organism.chat import decision_tokens, reasoner_tokenizer
from experiments.organism.decision_eval import auroc_estimate
from experiments.organism.traces import SyntheticTrace

OFFSETS = tuple(range(-12, 0))
"""Token offsets from the decision token (−1: the line break before it)."""
FOLDS = 5


@dataclass(frozen=True, kw_only=True)
class OffsetProbe:
    offset: int
    residual: Estimate
    """AUROC of the residual-stream probe (held-out folds)."""
    token: Estimate
    """AUROC of the token-identity probe at the same offset."""


@dataclass(frozen=True, kw_only=True)
class Precheck:
    """The base model's readout of "the step just stated is wrong"."""

    model: str
    hook: str
    n_wrong: int
    n_right: int
    offsets: tuple[OffsetProbe, ...]
    window: tuple[int, int]
    """The study's window (offsets from the backtracking sentence's first token, inclusive)."""
    window_residual: Estimate
    """AUROC of a probe on the mean residual over ``window``."""


def collect(
    hf_model: object, tokenizer: object, traces: Sequence[SyntheticTrace], layer: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(residuals [n, len(OFFSETS), d], token ids [n, len(OFFSETS)], wrong [n], trace [n])`` at
    every decision point whose offsets all lie in the completion."""
    from tqdm.auto import tqdm

    from experiments.organism.norms import hidden_states

    acts, ids, wrong, group = [], [], [], []
    for t, trace in enumerate(tqdm(traces, desc="pre-check", unit="trace")):
        example, points = decision_tokens(tokenizer, trace)  # type: ignore[arg-type]
        usable = [(i, w) for i, w in points if i + OFFSETS[0] >= example.n_prompt]
        if not usable:
            continue
        h = hidden_states(hf_model, example.input_ids, [layer])[layer]  # type: ignore[arg-type]
        for i, w in usable:
            at = [i + o for o in OFFSETS]
            acts.append(h[at].numpy())
            ids.append([example.input_ids[a] for a in at])
            wrong.append(w)
            group.append(t)
    return np.stack(acts), np.asarray(ids), np.asarray(wrong, dtype=bool), np.asarray(group)


def cv_scores(x: np.ndarray, y: np.ndarray, groups: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """Held-out decision scores of an L2 logistic probe, folds grouped by trace."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probe = make_pipeline(StandardScaler(), LogisticRegression(C=0.05, max_iter=2000))
    folds = GroupKFold(n_splits=min(FOLDS, len(set(groups.tolist()))))
    return cross_val_predict(probe, x, y, groups=groups, cv=folds, method="decision_function")


def one_hot(ids: np.ndarray) -> np.ndarray:
    vocab = {v: k for k, v in enumerate(sorted(set(ids.tolist())))}
    out = np.zeros((len(ids), len(vocab)), dtype=np.float32)
    out[np.arange(len(ids)), [vocab[v] for v in ids.tolist()]] = 1.0
    return out


def run_precheck(
    model: str, traces: Sequence[SyntheticTrace], layer: int, window: tuple[int, int]
) -> Precheck:
    """Load ``model`` (the base model) and probe it at every offset and over ``window``."""
    from activation_store.models import ModelConfig, load_hf_model

    hf_model, tokenizer = load_hf_model(ModelConfig(model=model))
    tokenizer = reasoner_tokenizer(tokenizer)
    acts, ids, wrong, group = collect(hf_model, tokenizer, traces, layer)
    if wrong.sum() < FOLDS or (~wrong).sum() < FOLDS:
        raise ValueError(
            f"{int(wrong.sum())} wrong and {int((~wrong).sum())} right steps: too few to probe"
        )
    per_offset = []
    for k, offset in enumerate(OFFSETS):
        per_offset.append(
            OffsetProbe(
                offset=offset,
                residual=auroc_estimate(cv_scores(acts[:, k], wrong, group), wrong),
                token=auroc_estimate(cv_scores(one_hot(ids[:, k]), wrong, group), wrong),
            )
        )
    # The study's window is relative to the backtracking sentence's first token, which is the
    # decision token: offset o there is offset o here.
    cols = [k for k, o in enumerate(OFFSETS) if window[0] <= o <= window[1]]
    pooled = acts[:, cols].mean(axis=1)
    return Precheck(
        model=model,
        hook=hook_name("resid_post", layer),
        n_wrong=int(wrong.sum()),
        n_right=int((~wrong).sum()),
        offsets=tuple(per_offset),
        window=window,
        window_residual=auroc_estimate(cv_scores(pooled, wrong, group), wrong),
    )
