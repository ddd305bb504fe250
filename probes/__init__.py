"""`probes`: backtracking directions (difference of means, baselines, comparisons) and linear probes.

Directions (``backtrack directions``): ``diff_of_means`` derives them from a labelled store,
``baselines`` is the one maker of baseline directions (random, token rows, mean) with
``naming`` the one naming scheme, ``similarity`` compares directions (cosines, logit lens, token
rows) and ``comparison_report`` writes that comparison; ``direction_run`` does all of it in one
call. Probes (``backtrack probe``): ``selection`` and ``probe_data`` choose the rows (positives,
sampled negatives, splits by trace in ``splits``), ``stream`` reads them, ``fitting`` is the
protocol of the logistic backends (``logistic_sklearn``, ``logistic_torch``, chosen in
``logistic``), ``probe_fit`` / ``probe_eval`` fit and score them with ``metrics`` (weighted
AUROC, AP), ``probe_run`` runs it all and ``probe_report`` / ``plots`` write it. ``token_space``
holds a model's embedding and unembedding matrices.

Public names are imported lazily so that ``backtrack --help`` does not pay for torch or sklearn.

>>> from activation_store import ActivationStore
>>> from probes import DirectionConfig, ProbeConfig, build_directions, run_probes
>>> run = build_directions("store.h5", DirectionConfig(models=("base",), offsets=tuple(range(-12, -7))), "dirs/")
>>> report = run_probes("store.h5", ProbeConfig(layers=("10",), offsets=tuple(range(-16, 1))))
"""

from __future__ import annotations

from activation_store.core.lazy import lazy_exports

_EXPORTS = {
    "DirectionConfig": "probes.config",
    "ProbeConfig": "probes.config",
    "SelectionConfig": "probes.config",
    "derive_directions": "probes.diff_of_means",
    "build_directions": "probes.direction_run",
    "DirectionRun": "probes.direction_run",
    "token_baselines": "probes.baselines",
    "random_baselines": "probes.baselines",
    "mean_baseline": "probes.baselines",
    "references": "probes.baselines",
    "TokenSpace": "probes.token_space",
    "load_token_space": "probes.token_space",
    "cosine_matrix": "probes.similarity",
    "logit_lens": "probes.similarity",
    "token_similarity": "probes.similarity",
    "CosineMatrix": "probes.similarity",
    "LogitLens": "probes.similarity",
    "TokenSimilarity": "probes.similarity",
    "compare": "probes.comparison_report",
    "write_comparison": "probes.comparison_report",
    "Comparison": "probes.comparison_report",
    "run_probes": "probes.probe_run",
    "ProbeReport": "probes.probe_run",
    "ProbeResult": "probes.probe_eval",
    "write_report": "probes.probe_report",
    "ranking_metrics": "probes.metrics",
    "split_groups": "probes.splits",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_exports(__name__, _EXPORTS, globals())
