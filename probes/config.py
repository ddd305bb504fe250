"""Configurations of direction derivation and probing (light: no torch import, for a fast CLI).

The same frozen dataclasses are the Python API and the ``backtrack directions`` / ``backtrack probe``
options; every field is recorded beside the results it produced.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from activation_store.core.errors import InputError

DEFAULT_TOKENS = ("Wait", " Wait", "But", "Hmm")
"""Backtracking tokens whose embedding/unembedding rows are baselines and whose logit-lens rank is
reported."""


@dataclass(frozen=True, kw_only=True)
class SelectionConfig:
    """Which tokens count as events and as the reference set (shared by directions and probes)."""

    label: str = "backtracking_start"
    """Event label in the store: 1 at the first token of each backtracking sentence."""
    within: str = "auto"
    """Label marking the reference tokens (windows must lie inside it): auto = labels/thinking if
    the store has it, else every token (logged and recorded); none = every token; or a label name."""
    min_events: int = 10
    """Fewest usable events (after skipping windows that leave the sequence or the reference span)."""
    batch_size: int = 4096
    """Rows per streamed batch."""

    def __post_init__(self) -> None:
        if self.min_events < 1:
            raise InputError(f"min_events must be ≥ 1, got {self.min_events}")
        if self.batch_size < 1:
            raise InputError(f"batch_size must be ≥ 1, got {self.batch_size}")


@dataclass(frozen=True, kw_only=True)
class DirectionConfig(SelectionConfig):
    """How to derive difference-of-means directions and their baselines from a labelled store."""

    models: tuple[str, ...] = ()
    """Store model keys to derive from, e.g. base,reasoner (default: every model in the store)."""
    hooks: tuple[str, ...] = ()
    """Hooks to derive at, e.g. blocks.10.hook_resid_post (default: every hook cached for the model)."""
    offsets: tuple[int, ...] = (-12, -11, -10, -9, -8)
    """Window offsets relative to each backtracking start, e.g. -12:-8 (inclusive) or -12,-10,0."""
    reference: Literal["all", "non_window"] = "all"
    """Reference mean: all reference (thinking) tokens, or only those in no event's window."""
    recipe: Literal["window", "predecessor"] = "window"
    """window: mean(window) − mean(reference). predecessor (Venhoff et al.): mean over tokens
    start-1…start+9 minus the overall mean, rescaled to the overall mean's norm (ignores offsets)."""
    n_random: int = 3
    """Norm-matched random baseline directions per hook (seeds seed..seed+n_random-1)."""
    tokens: tuple[str, ...] = DEFAULT_TOKENS
    """Words whose embedding and unembedding rows are saved as baselines (first token if several);
    a leading _ stands for a space: _Wait is ' Wait'."""
    token_baselines: bool = True
    """Save embedding/unembedding baselines (loads each model's weights from its store model_id)."""
    logit_lens: bool = True
    """Compare all directions: cosines, logit lens and max cosine with token rows (loads weights)."""
    flag_cosine: float = 0.7
    """A direction whose max cosine with any embedding/unembedding row reaches this is flagged."""
    suffix: str = ""
    """Appended to every saved name, e.g. -w1 for a second offset window, so that several runs
    (offsets, recipes, stores) can share one directory and be compared."""
    seed: int = 0
    """Seed of the random baselines."""
    device: str = "cpu"
    """Device for loading a model's weights (token baselines, logit lens): cpu, cuda, auto."""
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    """dtype for loading a model's weights."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.offsets:
            raise InputError("no offsets given; use e.g. --offsets -12:-8")
        if self.n_random < 0:
            raise InputError(f"n_random must be ≥ 0, got {self.n_random}")
        if self.suffix and not re.fullmatch(r"[A-Za-z0-9_.+=-]+", self.suffix):
            raise InputError(
                f"suffix {self.suffix!r} is not file-safe; use letters, digits, _ . + = -"
            )
        words = tuple(" " + w[1:] if w.startswith("_") else w for w in self.tokens)
        object.__setattr__(self, "tokens", words)


@dataclass(frozen=True, kw_only=True)
class ProbeConfig(SelectionConfig):
    """How to fit backtracking probes per model × layer × offset from a labelled store."""

    models: tuple[str, ...] = ()
    """Store model keys to probe, e.g. base,reasoner (default: every model in the store)."""
    layers: tuple[str, ...] = ("all",)
    """Layers (indices → blocks.L.hook_resid_post) or hook names, or all (every cached hook)."""
    offsets: tuple[int, ...] = tuple(range(-16, 1))
    """Offsets d relative to each backtracking start, e.g. -16:0; one probe per offset."""
    k: int = 1
    """Window width: a token is positive when its offset from some start lies in [d-k+1, d].
    k=1: 'is this token exactly at offset d'; d=-1, k=10: 'a backtracking sentence starts within
    the next 10 tokens'."""
    max_negatives: int = 20_000
    """Negative rows sampled (seeded) in all: uniform negatives are shared by every offset, matched
    ones are drawn per offset (this budget split over the offsets, at least one per positive)."""
    negatives: Literal["matched", "position", "uniform"] = "matched"
    """matched: each offset's negatives come from the same layout slots as its positives (line
    opener, distance to the line's end and start; coarser slots where too few), so position in the
    template cannot separate the classes, and metrics refer to that matched population; position:
    the same without the line opener (distance to the line's end and start only) — where
    backtracks chain, a line that a backtracking sentence opened is an outcome of whatever made
    the model backtrack, and matching on its opener draws the negatives from such lines too
    (README "Positive and null controls"); uniform: a uniform sample of reference tokens, weighted
    back to the population (AP and accuracy at the true prevalence). Matched and position
    negatives are never positive at any probed offset; they need the tokenizer of the store's
    first model (to find line and sentence ends)."""
    val_fraction: float = 0.15
    """Share of events whose traces form the validation split (chooses the regularisation)."""
    test_fraction: float = 0.25
    """Share of events whose traces form the test split (all reported metrics)."""
    group_regex: str | None = None
    """Regex on trace ids whose first group is the split unit, e.g. '^(.*)/' keeps all traces of a
    prompt on one side (default: each trace id is its own group)."""
    Cs: tuple[float, ...] = (0.001, 0.01, 0.1, 1.0)
    """Inverse L2 strengths (sklearn's C, on standardised features) tried; best validation AUROC wins."""
    backend: Literal["sklearn", "torch"] = "sklearn"
    """sklearn (lbfgs, one probe at a time) or torch (all offsets × Cs of a layer batched, GPU-ready)."""
    device: str = "cpu"
    """Device of the torch backend and of model weights (token baseline): cpu, cuda, auto."""
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    """dtype for loading a model's weights (token-identity baseline)."""
    threshold: float = 0.5
    """Probability threshold for accuracy (probes are trained class-balanced)."""
    n_bootstrap: int = 1000
    """Bootstrap replicates (resampling test traces) for 95-percent CIs; 0 = no CIs."""
    token_baseline: bool = True
    """Fit the token-identity baseline (a probe on the current token's embedding only)."""
    structure_baseline: bool = True
    """Fit the structure baseline: the same probe on layout features only (line opener, distances
    to the line's and sentence's boundaries, position), so position in the template is a number."""
    n_shuffles: int = 3
    """Control probes refitted on permuted training labels (mean and sd reported; 0 = none). One
    permutation alone spreads widely around 0.5 when the positives are a tight cluster."""
    max_memory_gb: float = 4.0
    """Bound on gathered activations held at once; more hooks than fit take extra passes."""
    seed: int = 0
    """Seed of the negative sample, the split, the shuffled control and the bootstrap."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.offsets:
            raise InputError("no offsets given; use e.g. --offsets -16:0")
        if self.k < 1:
            raise InputError(f"k must be ≥ 1, got {self.k}")
        if not (0 < self.val_fraction < 1 and 0 < self.test_fraction < 1):
            raise InputError("val_fraction and test_fraction must lie in (0, 1)")
        if self.val_fraction + self.test_fraction >= 0.9:
            raise InputError("val_fraction + test_fraction must leave ≥ 10 % of events to train on")
        if not self.Cs or min(self.Cs) <= 0:
            raise InputError(f"Cs must be positive, got {self.Cs}")
        if self.max_negatives < 10:
            raise InputError(f"max_negatives must be ≥ 10, got {self.max_negatives}")
        if not 0 < self.threshold < 1:
            raise InputError(f"threshold must lie in (0, 1), got {self.threshold}")
        if self.n_bootstrap < 0 or self.n_shuffles < 0 or self.max_memory_gb <= 0:
            raise InputError("n_bootstrap and n_shuffles must be ≥ 0, max_memory_gb > 0")
