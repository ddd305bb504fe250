"""`probes`: backtracking directions (difference of means, baselines, comparisons) and linear probes.

Public names are imported lazily so that ``backtrack --help`` does not pay for torch or sklearn.

>>> from activation_store import ActivationStore
>>> from probes import DirectionConfig, ProbeConfig, build_directions, run_probes
>>> run = build_directions("store.h5", DirectionConfig(models=("base",), offsets=tuple(range(-12, -7))), "dirs/")
>>> report = run_probes("store.h5", ProbeConfig(layers=("10",), offsets=tuple(range(-16, 1))))
"""

from __future__ import annotations

from activation_store.lazy import lazy_exports

_EXPORTS = {
    "DirectionConfig": "probes.config",
    "ProbeConfig": "probes.config",
    "SelectionConfig": "probes.config",
    "derive_directions": "probes.directions",
    "build_directions": "probes.direction_run",
    "DirectionRun": "probes.direction_run",
    "token_baselines": "probes.baselines",
    "TokenSpace": "probes.token_space",
    "load_token_space": "probes.token_space",
    "cosine_matrix": "probes.compare",
    "logit_lens": "probes.compare",
    "token_similarity": "probes.compare",
    "CosineMatrix": "probes.compare",
    "LogitLens": "probes.compare",
    "TokenSimilarity": "probes.compare",
    "compare": "probes.comparison",
    "write_comparison": "probes.comparison",
    "Comparison": "probes.comparison",
    "run_probes": "probes.probe_run",
    "ProbeReport": "probes.probe_run",
    "ProbeResult": "probes.probe_eval",
    "write_report": "probes.probe_report",
    "ranking_metrics": "probes.metrics",
    "split_groups": "probes.splits",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_exports(__name__, _EXPORTS, globals())
