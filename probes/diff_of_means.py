"""Difference-of-means backtracking directions and their store-derived baselines.

For each (model, hook) one streamed pass computes every mean needed:

- ``dom`` (recipe ``window``, Ward et al.): mean of the activations at ``offsets`` relative to each
  backtracking start (a token in several events' windows counts once per event) minus the mean
  over the reference tokens (all thinking tokens, or only those in no window). Windows that leave
  their sequence or the thinking span are skipped and counted.
- ``dom`` (recipe ``predecessor``, Venhoff et al.): mean over tokens start−1…start+9 minus the
  overall mean, rescaled to the norm of the overall mean.
- ``offset0``: the same recipe at offset 0, i.e. the backtracking token itself;
- baselines, from the one maker :mod:`probes.baselines`: ``mean`` (the all-token mean activation
  itself) and ``random<seed>`` (isotropic Gaussian directions with the norm of ``dom``).

Each direction carries the mean residual norm at its hook (over the reference tokens), so a
steering strength can be stated as a multiple of it.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

import numpy as np
import torch

from activation_store.direction import Direction
from activation_store.reader import ActivationStore
from probes.baselines import mean_baseline, random_baselines, references
from probes.config import DirectionConfig
from probes.naming import direction_name
from probes.selection import (
    Reference,
    check_complete,
    event_mask,
    resolve_hooks,
    resolve_models,
    resolve_reference,
    row_weights,
    windows,
)
from probes.stream import WeightedSums, weighted_sums

log = logging.getLogger(__name__)

PREDECESSOR_OFFSETS = tuple(range(-1, 10))
"""Venhoff et al.: tokens start−1 … start+9 of each backtracking span."""


def derive_directions(store: ActivationStore, config: DirectionConfig) -> list[Direction]:
    """Difference-of-means directions and their baselines for every requested model × hook."""
    out: list[Direction] = []
    for model in resolve_models(store, config.models):
        hooks = resolve_hooks(store, model, config.hooks)
        check_complete(store, model, hooks)
        out += _derive_for_model(store, model, hooks, config)
    return out


def _derive_for_model(
    store: ActivationStore, model: str, hooks: list[str], config: DirectionConfig
) -> list[Direction]:
    reference = resolve_reference(store, config.within)
    events = event_mask(store, config.label)
    offsets = PREDECESSOR_OFFSETS if config.recipe == "predecessor" else config.offsets
    kw: dict[str, Any] = {"label": config.label, "min_events": config.min_events}
    win = windows(store, events, offsets, reference, **kw)
    zero = windows(store, events, (0,), reference, **kw)
    n = store.n_tokens
    w_window = row_weights(n, win.rows)
    ref = reference.mask.astype(np.float64)
    weights = {"reference": ref, "window": w_window, "offset0": row_weights(n, zero.rows)}
    if config.reference == "non_window":
        weights["non_window"] = ref * (w_window == 0)
    log.info(
        "%s: %d events (%d skipped), %d window tokens, reference %s (%d tokens)",
        model,
        win.n_events,
        win.n_skipped,
        len(win.unique_rows()),
        reference.description,
        reference.n_rows,
    )
    sums = weighted_sums(store, model, hooks, weights, batch_size=config.batch_size)
    counts = {
        "n_events": win.n_events,
        "n_skipped": win.n_skipped,
        "n_window_tokens": len(win.unique_rows()),
        "n_window_pairs": int(win.rows.size),
        "n_reference_tokens": reference.n_rows,
        "n_offset0_events": zero.n_events,
    }
    base = _provenance(store, model, config, reference, offsets, counts)
    return [d for h in hooks for d in _hook_directions(model, h, sums[h], config, base)]


def _hook_directions(
    model: str, hook: str, s: WeightedSums, config: DirectionConfig, base: dict[str, Any]
) -> list[Direction]:
    ref_name = "non_window" if config.reference == "non_window" else "reference"
    overall = s.mean("reference")
    dom = s.mean("window") - s.mean(ref_name)
    if config.recipe == "predecessor":
        dom = dom * (float(np.linalg.norm(overall)) / max(float(np.linalg.norm(dom)), 1e-30))
    offset0 = s.mean("offset0") - s.mean(ref_name)
    resid = s.mean_norm("reference")

    def make(kind: str, vec: np.ndarray, **extra: Any) -> Direction:
        return Direction(
            name=direction_name(model, hook, kind) + config.suffix,
            vector=torch.from_numpy(np.asarray(vec, dtype=np.float32)),
            model=model,
            hook=hook,
            kind=kind if kind == "offset0" else "diff_of_means",
            mean_resid_norm=resid,
            provenance={**base, **extra},
        )

    dom_direction = make("dom", dom)
    mean = mean_baseline(
        overall,
        model=model,
        hook=hook,
        mean_resid_norm=resid,
        suffix=config.suffix,
        provenance={**base, "offsets": [], "note": "mean activation over the reference tokens"},
    )
    seeds = [config.seed + i for i in range(config.n_random)]
    (reference,) = references([dom_direction])
    return [
        dom_direction,
        mean,
        make("offset0", offset0, offsets=[0]),
        *random_baselines(reference, seeds, suffix=config.suffix, provenance=base),
    ]


def _provenance(
    store: ActivationStore,
    model: str,
    config: DirectionConfig,
    reference: Reference,
    offsets: tuple[int, ...],
    counts: dict[str, int],
) -> dict[str, Any]:
    attrs = store.model_attrs(model)
    labeller = store.label_attrs(config.label)
    return {
        "store": str(store.path.resolve()),
        "model_key": model,
        "model_id": str(attrs.get("model_id", "")),
        "model_fingerprint": str(attrs.get("fingerprint", "")),
        "label": config.label,
        "labeller": {k: str(v) for k, v in labeller.items()},
        "reference": reference.description,
        "reference_mean": config.reference,
        "recipe": config.recipe,
        "offsets": list(offsets),
        "counts": counts,
        "config": asdict(config),
    }
