"""The conditions of a run: which model, which intervention, which α and seed.

A condition's ``id`` is stable across runs of the same config, so a resumed run recognises the
generations it already has. The unsteered condition (α = 0) is run once per model and seed and is
the α = 0 point of every direction's curve.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from activation_store.core.errors import InputError
from experiments.steering.runs.config import AblationConfig, SweepConfig

Operation = Literal["none", "add", "ablate", "mean_ablate"]
"""none (unsteered), add (steer), ablate (zero-ablation) or mean_ablate (mean-ablation)."""

ABLATIONS: dict[str, Operation] = {"zero": "ablate", "mean": "mean_ablate"}
"""The operation of each ablation mode."""


def cell_id(model: str, operation: Operation, group: str, alpha: float = 0.0) -> str:
    """The id of a cell (a condition without its seed), e.g. ``reasoner|add|base_L10_dom|a=0.2``;
    the unsteered cell is ``reasoner|none|unsteered|a=0``."""
    return f"{model}|{operation}|{group}|a={alpha:g}"


@dataclass(frozen=True, kw_only=True)
class Condition:
    """One cell of the experiment: every held-out prompt is generated under it."""

    model: str
    """Model label (see ``RunSettings.labels``)."""
    operation: Operation
    """none (unsteered), add (steer), ablate (project out) or mean_ablate (replace by the mean)."""
    directions: tuple[str, ...] = ()
    """Directions added or ablated together (empty for unsteered and random subspaces)."""
    alpha: float = 0.0
    """Steering strength (add only), in the run's alpha_unit."""
    random_k: int = 0
    """Dimension of a random subspace to ablate (0: none)."""
    random_seed: int | None = None
    """Seed of that random subspace."""
    random_kind: str = "isotropic"
    """isotropic (drawn at run time from random_seed) or variance_matched (its basis saved in the
    run's directions/ under ``directions``)."""
    seed: int = 0
    """Generation seed."""

    @property
    def group(self) -> str:
        """What is intervened with, e.g. ``base_L10_dom``, ``a+b``, ``random3#1``, ``unsteered``."""
        if self.random_k:
            prefix = "matched" if self.random_kind == "variance_matched" else "random"
            return f"{prefix}{self.random_k}#{self.random_seed}"
        return "+".join(self.directions) or "unsteered"

    @property
    def k(self) -> int:
        """Number of directions (or subspace dimension) involved."""
        return self.random_k or len(self.directions)

    @property
    def id(self) -> str:
        return f"{self.cell}|seed={self.seed}"

    @property
    def cell(self) -> str:
        """The id without the seed: seeds of one cell are averaged per prompt in summaries."""
        return cell_id(self.model, self.operation, self.group, self.alpha)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "id": self.id, "cell": self.cell, "group": self.group, "k": self.k}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Condition:
        """Inverse of :meth:`to_json` (derived keys are ignored)."""
        return cls(
            model=obj["model"],
            operation=obj["operation"],
            directions=tuple(obj["directions"]),
            alpha=float(obj["alpha"]),
            random_k=int(obj["random_k"]),
            random_seed=obj["random_seed"],
            random_kind=obj.get("random_kind", "isotropic"),
            seed=int(obj["seed"]),
        )


def sweep_plan(config: SweepConfig, names: Sequence[str]) -> list[Condition]:
    """Unsteered + every direction (and group) at every non-zero α, per model and seed."""
    groups = [tuple(g.split("+")) for g in config.groups]
    _check_known(names, [n for g in groups for n in g])
    units = [(n,) for n in names] + groups
    out = []
    for model in config.labels:
        for seed in config.seeds:
            out.append(Condition(model=model, operation="none", seed=seed))
            for alpha in config.alphas:
                if alpha == 0:
                    continue
                out.extend(
                    Condition(model=model, operation="add", directions=u, alpha=alpha, seed=seed)
                    for u in units
                )
    return out


def group_alphas(condition: Condition, scale: str) -> list[float]:
    """Per-direction α of a (joint) steering condition."""
    k = len(condition.directions)
    alpha = condition.alpha / math.sqrt(k) if scale == "split" else condition.alpha
    return [alpha] * k


def ablation_plan(config: AblationConfig, names: Sequence[str]) -> list[Condition]:
    """Unablated; the first k directions for each k; each alone; random k-subspaces."""
    if max(config.ks) > len(names):
        raise InputError(
            f"ks goes up to {max(config.ks)} but only {len(names)} directions are given; "
            "add directions or lower ks"
        )
    subsets = [tuple(names[:k]) for k in sorted(set(config.ks))]
    if config.single:
        subsets += [(n,) for n in names if (n,) not in subsets]
    out = []
    for model in config.labels:
        for seed in config.seeds:
            out.append(Condition(model=model, operation="none", seed=seed))
            for mode in config.modes:
                op = ABLATIONS[mode]
                out.extend(
                    Condition(model=model, operation=op, directions=s, seed=seed) for s in subsets
                )
                out.extend(
                    Condition(
                        model=model,
                        operation=op,
                        random_k=k,
                        random_seed=config.random_seed + j,
                        random_kind=kind,
                        directions=matched_names(k, config.random_seed + j)
                        if kind == "variance_matched"
                        else (),
                        seed=seed,
                    )
                    for kind in config.random_kinds
                    for k in sorted(set(config.ks))
                    for j in range(config.n_random)
                )
    return out


def matched_names(k: int, seed: int) -> tuple[str, ...]:
    """The saved basis directions of variance-matched subspace (``k``, ``seed``)."""
    from experiments.steering.runs.subspaces import basis_name

    return tuple(basis_name(k, seed, i) for i in range(k))


def _check_known(names: Sequence[str], wanted: Sequence[str]) -> None:
    missing = sorted(set(wanted) - set(names))
    if missing:
        raise InputError(
            f"groups name unknown direction(s) {', '.join(missing)}; known: {', '.join(names)}"
        )
