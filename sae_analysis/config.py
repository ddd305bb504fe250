"""Configuration of ``backtrack decompose`` (light: no torch import, so ``--help`` stays fast)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from activation_store.core.errors import InputError
from activation_store.events import parse_offsets

SaeDtype = Literal["float32", "bfloat16", "float16"]


REFUSED_FILE = "refused.json"
"""Written instead of the decomposition when the SAE fit the store too poorly (``on_poor_fit``
``record``)."""


@dataclass(frozen=True, kw_only=True)
class DecomposeConfig:
    """How a direction is decomposed into SAE features; the Python API and the CLI options."""

    model: str | None = None
    """Store model whose activations feed the preflight and the data view (default: the
    direction's own model, e.g. base)."""
    compare_model: str | None = None
    """A second store model (e.g. the reasoning model) on which the same features' statistics are
    computed, at the same hook."""
    top_k: int = 10
    """Features listed per sign by cosine with decoder rows, and per α in the encoder view."""
    k_max: int = 32
    """K: sparse reconstruction (orthogonal matching pursuit) for k = 1…K; the K features are the
    chosen set saved as directions."""
    alphas: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0)
    """Encoder view: encode(mean + α·scale·unit) − encode(mean), α in units of the mean residual
    norm at the hook."""
    n_null: int = 8
    """Random Gaussian directions giving the chance level of the largest |cosine|."""
    event_label: str = "backtracking_start"
    """Store label marking the first token of each backtracking sentence."""
    offsets: str = "-12:-8"
    """Pre-backtracking window relative to each event (low:high inclusive, or a comma list); on
    the command line write --offsets=-12:-8 (a value starting with '-' needs the '=')."""
    within: str | None = "thinking"
    """Store label restricting windows and reference tokens (e.g. the thinking span); ignored, with
    a note, when the store lacks it; none to use all tokens."""
    skip_first_tokens: int = 1
    """Leave out positions below this in every sequence (the BOS / attention-sink token's residual
    norm dwarfs the rest and SAEs are usually not trained on it)."""
    n_contexts: int = 8
    """Top-activating contexts shown per feature."""
    context_before: int = 12
    """Tokens shown before the max-activating token."""
    context_after: int = 4
    """Tokens shown after it."""
    preflight_rows: int = 2048
    """Store tokens (seeded sample) on which the SAE's reconstruction is checked."""
    warn_below: float = 0.9
    """Warn when the SAE's mean reconstruction cosine or explained variance is below this."""
    refuse_below: float = 0.8
    """Stop when either is below this, unless --force."""
    force: bool = False
    """Analyse despite a failed reconstruction check or a hook mismatch (recorded in the result)."""
    on_poor_fit: Literal["refuse", "record"] = "refuse"
    """When the reconstruction check fails (without --force): refuse (exit 2), or record the
    refusal in ``OUT/refused.json`` and exit 0 — what a study does, so that one seed's store the
    SAE fits poorly leaves its decomposition "not analysed" instead of stopping the study."""
    umap: bool = True
    """Draw the UMAP map of decoder rows (umap-learn; ~15 s of one-off compilation)."""
    umap_sample: int = 4000
    """Decoder rows in the UMAP map (a seeded sample, plus every reported feature)."""
    umap_neighbors: int = 15
    """UMAP n_neighbors."""
    batch_size: int = 4096
    """Store rows per SAE encoder batch in the data view."""
    device: str = "cpu"
    """Where the SAE runs: cpu, cuda, cuda:N, or auto (the first GPU if any)."""
    sae_dtype: SaeDtype = "float32"
    """SAE precision (bfloat16 halves memory; products with the decoder are always float32)."""
    seed: int = 0
    """Seed of every sample (preflight rows, null directions, UMAP)."""

    def __post_init__(self) -> None:
        positive = ("top_k", "k_max", "preflight_rows", "batch_size", "umap_sample")
        for name in positive:
            if getattr(self, name) < 1:
                raise InputError(f"{name}={getattr(self, name)} must be ≥ 1")
        for name in (
            "n_null",
            "skip_first_tokens",
            "n_contexts",
            "context_before",
            "context_after",
        ):
            if getattr(self, name) < 0:
                raise InputError(f"{name}={getattr(self, name)} must be ≥ 0")
        if self.umap_neighbors < 2:
            raise InputError(f"umap_neighbors={self.umap_neighbors} must be ≥ 2")
        if not 0 <= self.refuse_below <= self.warn_below <= 1:
            raise InputError(
                f"need 0 ≤ refuse_below ({self.refuse_below}) ≤ warn_below ({self.warn_below}) ≤ 1"
            )
        if not self.alphas:
            raise InputError("alphas is empty; pass e.g. --alphas 0.25,0.5,1,2")
        if self.model is not None and self.model == self.compare_model:
            raise InputError(f"compare_model={self.compare_model!r} is the analysed model itself")
        if self.within is not None and self.within.lower() == "none":
            object.__setattr__(self, "within", None)
        self.offset_tuple  # noqa: B018 — validates the text

    @property
    def offset_tuple(self) -> tuple[int, ...]:
        """The parsed ``offsets``."""
        return parse_offsets(self.offsets)
