"""The intervention library: operators on the residual stream, installed on a model for a ``with``.

>>> from experiments.steering.interventions import add_interventions, steer_hf
>>> interventions = add_interventions([direction], [8.0], unit="unit", positions="all")
>>> with steer_hf(hf_model, interventions) as handle:   # plain Hugging Face model: fast generation
...     outputs = generate(hf_model, tokenizer, prompts, config)
>>> handle.record()   # operator, hook, positions, and how many prompt/generated positions changed

Modules: ``operators/`` (:class:`AddVectors`, :class:`ProjectOut` — directional ablation of 1..k
directions, orthonormalised —, :class:`AblateThenAdd`), ``intervention`` (an operator at one hook
and positions), ``positions`` (``all``, ``prompt``, ``generated`` or a :class:`PositionWindow`,
tracked through padding and the KV cache), ``units`` (what α is measured in), ``from_directions``
(directions → interventions), ``validation`` (hooks and widths checked against a model, resolved
once), ``hf`` / ``tl`` (install on a Hugging Face model or a ``HookedTransformer``; same logits),
``rows`` (per-row interventions: each batch row gets its own cell's interventions, for mixed
batches; :func:`steer_hf_rows`), ``prefix`` (the blocks below the first steered one run once per
teacher-forced batch and are replayed for every steered cell: :class:`SharedPrefix`), ``vllm``
(the same operators inside a vLLM model's workers) and ``handle`` (what was installed, undone
with ``remove()`` or by leaving the ``with``).

This package imports nothing from the experiments that use it (:mod:`experiments.steering.runs`).
"""

from __future__ import annotations

from activation_store.core.lazy import lazy_exports

_EXPORTS = {
    "AblateThenAdd": ".operators",
    "AddVectors": ".operators",
    "Operator": ".operators",
    "ProjectOut": ".operators",
    "SteeringTerm": ".operators",
    "orthonormal_basis": ".operators",
    "random_subspace": ".operators",
    "Intervention": ".intervention",
    "SteeringHandle": ".handle",
    "steer_hf": ".hf",
    "steer_hf_rows": ".rows",
    "RowSteeringHandle": ".rows",
    "steer_tl": ".tl",
    "PositionWindow": ".positions",
    "parse_positions": ".positions",
    "describe_positions": ".positions",
    "AlphaUnit": ".units",
    "steering_term": ".from_directions",
    "add_interventions": ".from_directions",
    "ablate_interventions": ".from_directions",
    "ablation_operator": ".from_directions",
    "ablate_then_add_interventions": ".from_directions",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_exports(__name__, _EXPORTS, globals())
