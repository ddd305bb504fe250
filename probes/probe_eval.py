"""Test-split metrics of one hook's probes, with trace-bootstrap CIs, as :class:`ProbeResult` rows.

Every score family (logistic probe, difference-of-means projection, shuffled control, token-identity
baseline) is evaluated on the same test rows under the same bootstrap resamples, so the gap
"probe AUROC − token-baseline AUROC" gets a paired CI: how much of the probe is *not* explained by
the current token's identity, as a number.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from activation_store.core.stats import Estimate, bootstrap_counts, percentile_interval
from activation_store.models.hooks import parse_hook
from probes.metrics import accuracy, ranking_metrics
from probes.probe_data import ProbeData
from probes.probe_fit import FamilyScores
from probes.splits import TEST, TRAIN

NAN = float("nan")


@dataclass(frozen=True, kw_only=True)
class ProbeResult:
    """Metrics of the probes of one model × hook × offset on the test split."""

    model: str
    hook: str
    layer: int
    """Block index (-1 for a hook outside the blocks)."""
    offset: int
    k: int
    n_train_pos: int
    n_train_neg: int
    n_test_pos: int
    n_test_neg: int
    """Sampled negatives in the test split (they stand for the population's, see ``prevalence``)."""
    prevalence: float
    """Positive share of the test split's reference tokens (the chance level of AP)."""
    C: float
    """Regularisation chosen on the validation split."""
    val_auroc: float
    auroc: float
    auroc_lo: float
    auroc_hi: float
    ap: float
    ap_lo: float
    ap_hi: float
    accuracy: float
    """At ``threshold`` on the class-balanced probe, weighted to the population prevalence."""
    balanced_accuracy: float
    dom_auroc: float
    dom_auroc_lo: float
    dom_auroc_hi: float
    dom_ap: float
    shuffled_auroc: float
    """Control: mean AUROC of probes fitted on permuted training labels (≈ 0.5)."""
    shuffled_auroc_sd: float
    """Spread of the control over permutations (large when positives form a tight cluster)."""
    shuffled_ap: float
    token_auroc: float
    """Baseline: probe on the current token's embedding only."""
    token_auroc_lo: float
    token_auroc_hi: float
    token_ap: float
    auroc_over_token: float
    """Probe AUROC minus token-baseline AUROC (paired bootstrap CI below)."""
    auroc_over_token_lo: float
    auroc_over_token_hi: float
    structure_auroc: float = NAN
    """Baseline: probe on layout features only (line opener, distances to line and sentence
    boundaries, position; see :mod:`probes.layout`): what position in the template explains."""
    structure_auroc_lo: float = NAN
    structure_auroc_hi: float = NAN
    auroc_over_structure: float = NAN
    """Probe AUROC minus structure-baseline AUROC (paired bootstrap CI below)."""
    auroc_over_structure_lo: float = NAN
    auroc_over_structure_hi: float = NAN
    negatives: str = "uniform"
    """How the negatives were drawn: uniform (population weights), matched (layout slots) or
    position (layout slots without the line opener)."""


@dataclass(frozen=True)
class Bootstrap:
    """Resample counts of the test groups, shared by every metric of a run (paired CIs)."""

    counts: NDArray[np.float64]
    """[n_boot, n_test_groups]."""
    group_index: NDArray[np.int64]
    """[n_groups] column of each group in ``counts`` (-1 outside the test split)."""


def make_bootstrap(data: ProbeData, n_boot: int, seed: int) -> Bootstrap | None:
    if n_boot == 0:
        return None
    test_groups = np.flatnonzero(data.split.group_part == TEST)
    index = np.full(len(data.split.group_names), -1, dtype=np.int64)
    index[test_groups] = np.arange(len(test_groups))
    rng = np.random.default_rng(seed + 104729)
    counts = bootstrap_counts(len(test_groups), n_boot, rng)
    return Bootstrap(counts=counts, group_index=index)


def evaluate_hook(
    model: str,
    hook: str,
    scores: FamilyScores,
    token: FamilyScores | None,
    data: ProbeData,
    *,
    k: int,
    threshold: float,
    boot: Bootstrap | None,
    structure: FamilyScores | None = None,
    negatives: str = "uniform",
) -> list[ProbeResult]:
    """One :class:`ProbeResult` per offset."""
    return [
        _evaluate_offset(
            model, hook, o, scores, token, structure, data, k, threshold, boot, negatives
        )
        for o in range(len(data.offsets))
    ]


def _evaluate_offset(
    model: str,
    hook: str,
    o: int,
    scores: FamilyScores,
    token: FamilyScores | None,
    structure: FamilyScores | None,
    data: ProbeData,
    k: int,
    threshold: float,
    boot: Bootstrap | None,
    negatives: str,
) -> ProbeResult:
    sel = data.member(o, TEST)
    y = data.positive[o][sel]
    base = data.eval_weights(o, TEST)
    W = base[None, :]
    if boot is not None:
        W = np.vstack([W, boot.counts[:, boot.group_index[data.group[sel]]] * base])

    def metric(s: NDArray[np.float64] | None) -> tuple[Estimate, Estimate, NDArray[np.float64]]:
        if s is None:
            return Estimate(NAN), Estimate(NAN), np.full(W.shape[0], NAN)
        auc, ap = ranking_metrics(s, y, W)
        return percentile_interval(auc[0], auc[1:]), percentile_interval(ap[0], ap[1:]), auc

    auc, ap, auc_reps = metric(scores.logit[o])
    dom_auc, dom_ap, _ = metric(scores.dom[o] if scores.dom else None)
    shuf_auc, shuf_sd, shuf_ap = _shuffled(scores, o, y, base)
    tok_auc, tok_ap, tok_reps = metric(token.logit[o] if token else None)
    gap = auc_reps - tok_reps
    gap_est = percentile_interval(gap[0], gap[1:])
    str_auc, _, str_reps = metric(structure.logit[o] if structure else None)
    str_gap = auc_reps - str_reps
    str_gap_est = percentile_interval(str_gap[0], str_gap[1:])
    prob = 1.0 / (1.0 + np.exp(-scores.logit[o]))
    acc, bal = accuracy(prob, y, base, threshold)
    train = data.member(o, TRAIN)
    n_train_pos = int((train & data.positive[o]).sum())
    spec = parse_hook(hook)
    layer = -1 if spec.layer is None else spec.layer
    return ProbeResult(
        model=model,
        hook=hook,
        layer=layer,
        offset=int(data.offsets[o]),
        k=k,
        n_train_pos=n_train_pos,
        n_train_neg=int(train.sum()) - n_train_pos,
        n_test_pos=int(y.sum()),
        n_test_neg=int((~y).sum()),
        prevalence=float(y.sum() / base.sum()),
        C=scores.best_C[o],
        val_auroc=scores.val_auroc[o],
        auroc=auc.mean,
        auroc_lo=auc.lo,
        auroc_hi=auc.hi,
        ap=ap.mean,
        ap_lo=ap.lo,
        ap_hi=ap.hi,
        accuracy=acc,
        balanced_accuracy=bal,
        dom_auroc=dom_auc.mean,
        dom_auroc_lo=dom_auc.lo,
        dom_auroc_hi=dom_auc.hi,
        dom_ap=dom_ap.mean,
        shuffled_auroc=shuf_auc,
        shuffled_auroc_sd=shuf_sd,
        shuffled_ap=shuf_ap,
        token_auroc=tok_auc.mean,
        token_auroc_lo=tok_auc.lo,
        token_auroc_hi=tok_auc.hi,
        token_ap=tok_ap.mean,
        auroc_over_token=gap_est.mean,
        auroc_over_token_lo=gap_est.lo,
        auroc_over_token_hi=gap_est.hi,
        structure_auroc=str_auc.mean,
        structure_auroc_lo=str_auc.lo,
        structure_auroc_hi=str_auc.hi,
        auroc_over_structure=str_gap_est.mean,
        auroc_over_structure_lo=str_gap_est.lo,
        auroc_over_structure_hi=str_gap_est.hi,
        negatives=negatives,
    )


def _shuffled(
    scores: FamilyScores, o: int, y: NDArray[np.bool_], base: NDArray[np.float64]
) -> tuple[float, float, float]:
    """(mean AUROC, sd AUROC, mean AP) over the permutation controls; NaN without controls."""
    if not scores.shuffled or not scores.shuffled[o]:
        return NAN, NAN, NAN
    metrics = [ranking_metrics(s, y, base[None, :]) for s in scores.shuffled[o]]
    aucs = np.array([m[0][0] for m in metrics])
    aps = np.array([m[1][0] for m in metrics])
    sd = float(aucs.std(ddof=1)) if len(aucs) > 1 else NAN
    return float(aucs.mean()), sd, float(aps.mean())
