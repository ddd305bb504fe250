"""Steering sweeps and ablation (joint-mediation) experiments, run into resumable run directories.

>>> from experiments.steering.runs import SweepConfig, run_experiment
>>> config = SweepConfig(models=("reasoner-dir", "base-dir"), model_labels=("reasoner", "base"),
...                      directions_dir="out/directions", alphas=(0, 4, 8, -4))
>>> result = run_experiment(config, "runs/sweep1")            # killed? rerun with resume=True

The path of a run, module by module: ``config`` (:class:`SweepConfig`, :class:`AblationConfig`:
Python API, TOML file and ``backtrack steer`` options at once) → ``inputs`` (held-out prompts,
directions checked against each checkpoint) → ``preparation`` (runtime baselines from
:mod:`probes.baselines`, the plan of conditions, written before any generation) → ``plan``
(:class:`Condition`: model × intervention × α × seed, and the cell ids) → ``runner``
(:func:`run_experiment`: one model at a time, resumable) → ``conditions`` (one condition's
prompts, batch by batch, hooks resolved once per model) → ``metrics`` (per generation) →
``rundir`` (the directory layout, appends that survive ``kill -9``) → ``summary`` and
``mediation`` (means, CIs and paired tests from :mod:`activation_store.core.stats`; the
dose-response of ablation).
"""

from __future__ import annotations

from activation_store.core.lazy import lazy_exports

_EXPORTS = {
    "RunSettings": ".config",
    "SweepConfig": ".config",
    "AblationConfig": ".config",
    "CONFIG_KINDS": ".config",
    "Condition": ".plan",
    "RunDir": ".rundir",
    "run_experiment": ".runner",
    "RunResult": ".runner",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_exports(__name__, _EXPORTS, globals())
