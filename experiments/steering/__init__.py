"""Steering and ablation: a library of interventions, and the experiments that use it.

- :mod:`experiments.steering.interventions` — the library: operators (add, ablate,
  ablate-then-add) at a hook and token positions, built from directions, installed on a Hugging
  Face model or a ``HookedTransformer`` inside a ``with`` that always undoes them. It imports
  nothing from the experiments.
- :mod:`experiments.steering.runs` — the experiments (``backtrack steer sweep|ablate``): configs,
  plans of conditions, resumable run directories, metrics and summaries.

The library's names are re-exported here, so ``from experiments.steering import steer_hf,
add_interventions`` works as it always did.
"""

from __future__ import annotations

from activation_store.core.lazy import lazy_exports
from experiments.steering.interventions import _EXPORTS as _LIBRARY

_EXPORTS = {
    **{name: f"experiments.steering.interventions{module}" for name, module in _LIBRARY.items()},
    "SweepConfig": "experiments.steering.runs.config",
    "AblationConfig": "experiments.steering.runs.config",
    "run_experiment": "experiments.steering.runs.runner",
    "RunResult": "experiments.steering.runs.runner",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_exports(__name__, _EXPORTS, globals())
