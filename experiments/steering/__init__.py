"""Steering and ablation: interventions on the residual stream during generation, and experiments.

Interventions (``with`` blocks that always undo themselves, or a handle with ``.remove()``):

>>> from experiments.steering import add_interventions, steer_hf
>>> interventions = add_interventions([direction], [8.0], unit="unit", positions="all")
>>> with steer_hf(hf_model, interventions) as handle:   # plain Hugging Face model: fast generation
...     outputs = generate(hf_model, tokenizer, prompts, config)
>>> handle.record()   # operator, hook, positions, and how many prompt/generated positions changed

``steer_tl`` installs the same interventions on a TransformerLens model (same logits for the same
hook and α). Operators: :class:`AddVectors`, :class:`ProjectOut` (directional ablation of 1..k
directions, orthonormalised), :class:`AblateThenAdd`. Positions: ``all``, ``prompt``,
``generated`` or a :class:`PositionWindow`.

Experiments (``backtrack steer sweep|ablate``): :class:`SweepConfig` / :class:`AblationConfig`
(also TOML: :func:`load_config`) run by :func:`run_experiment` into a resumable run directory
(layout in :mod:`experiments.steering.rundir`); ``backtrack report`` turns runs into HTML.
"""

from __future__ import annotations

from activation_store.lazy import lazy_exports

_EXPORTS = {
    "AblateThenAdd": "experiments.steering.operators",
    "AddVectors": "experiments.steering.operators",
    "Operator": "experiments.steering.operators",
    "ProjectOut": "experiments.steering.operators",
    "SteeringTerm": "experiments.steering.operators",
    "orthonormal_basis": "experiments.steering.operators",
    "random_subspace": "experiments.steering.operators",
    "Intervention": "experiments.steering.intervention",
    "SteeringHandle": "experiments.steering.handle",
    "steer_hf": "experiments.steering.hf",
    "steer_tl": "experiments.steering.tl",
    "PositionWindow": "experiments.steering.positions",
    "parse_positions": "experiments.steering.positions",
    "describe_positions": "experiments.steering.positions",
    "AlphaUnit": "experiments.steering.build",
    "steering_term": "experiments.steering.build",
    "add_interventions": "experiments.steering.build",
    "ablate_interventions": "experiments.steering.build",
    "ablation_operator": "experiments.steering.build",
    "ablate_then_add_interventions": "experiments.steering.build",
    "expand_hooks": "experiments.steering.targets",
    "SweepConfig": "experiments.steering.config",
    "AblationConfig": "experiments.steering.config",
    "load_config": "experiments.steering.config",
    "run_experiment": "experiments.steering.runner",
    "RunResult": "experiments.steering.runner",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_exports(__name__, _EXPORTS, globals())
