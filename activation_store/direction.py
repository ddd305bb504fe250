"""Directions in a model's residual stream, saved as safetensors + a JSON sidecar.

A :class:`Direction` is the currency between the steps of the study: ``probes`` derives them
(difference of means, baselines), ``sae_analysis`` decomposes them and saves feature sets as
directions, and ``experiments`` steers with and ablates them. It lives here, in the lowest package,
so that every step can read it.

On disk, direction ``NAME`` is ``NAME.safetensors`` (tensor ``vector``, float32 ``[d_model]``) next
to ``NAME.json`` (every other field). Plain ``safetensors`` and ``json`` read both.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from activation_store.core.errors import InputError
from activation_store.models.hooks import parse_hook

FORMAT_VERSION = 1
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+=-]*$")


@dataclass(frozen=True, kw_only=True)
class Direction:
    """A vector in the residual stream of one model at one hook, with where it came from."""

    name: str
    """File-safe name, e.g. ``base_L10_dom`` (letters, digits, ``_ . + = -``)."""
    vector: torch.Tensor
    """Raw vector, float32 ``[d_model]`` (not normalised: its norm is part of the result)."""
    model: str
    """Model the vector lives in (store model key or model id), e.g. ``base``."""
    hook: str
    """TransformerLens hook name, e.g. ``blocks.10.hook_resid_post``."""
    kind: str
    """What it is: ``diff_of_means``, ``random``, ``mean_activation``, ``embedding``,
    ``unembedding``, ``probe``, ``sae_feature``, ..."""
    mean_resid_norm: float | None = None
    """Mean L2 norm of the residual stream at ``hook`` (over the reference tokens), so steering
    strengths can be stated in units of it; ``None`` when unknown."""
    provenance: Mapping[str, Any] = field(default_factory=dict)
    """Store, offsets, labeller, event counts, config, seeds: everything needed to rebuild it."""

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise InputError(
                f"direction name {self.name!r} is not file-safe; use letters, digits, _ . + = -"
            )
        if self.vector.ndim != 1:
            raise InputError(
                f"direction {self.name!r} must be a 1-d vector, got shape {tuple(self.vector.shape)}"
            )
        if not torch.isfinite(self.vector).all():
            raise InputError(f"direction {self.name!r} has NaN/inf entries")
        object.__setattr__(self, "vector", self.vector.detach().to("cpu", torch.float32))

    @property
    def d_model(self) -> int:
        return int(self.vector.shape[0])

    @property
    def norm(self) -> float:
        return float(self.vector.norm())

    @property
    def unit(self) -> torch.Tensor:
        """The unit vector; a zero vector is refused (it has no direction)."""
        n = self.norm
        if n == 0 or not math.isfinite(n):
            raise InputError(f"direction {self.name!r} has zero norm; it cannot be normalised")
        return self.vector / n

    @property
    def layer(self) -> int | None:
        """The block of ``hook`` (None for the embedding hooks)."""
        return parse_hook(self.hook).layer

    def metadata(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "name": self.name,
            "model": self.model,
            "hook": self.hook,
            "kind": self.kind,
            "d_model": self.d_model,
            "norm": self.norm,
            "mean_resid_norm": self.mean_resid_norm,
            "provenance": dict(self.provenance),
        }


def save_direction(direction: Direction, directory: str | Path) -> Path:
    """Write ``directory/NAME.safetensors`` and ``directory/NAME.json``; returns the tensor path."""
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensor_path = directory / f"{direction.name}.safetensors"
    save_file({"vector": direction.vector.contiguous()}, str(tensor_path))
    sidecar = directory / f"{direction.name}.json"
    sidecar.write_text(json.dumps(direction.metadata(), indent=2, default=str) + "\n")
    return tensor_path


def load_direction(path_or_name: str | Path, *, directory: str | Path | None = None) -> Direction:
    """Load a direction from ``NAME.safetensors`` / ``NAME.json`` / ``NAME`` (inside ``directory``)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path_or_name)
    if directory is not None and not path.is_absolute() and len(path.parts) == 1:
        path = Path(directory) / path
    base = path.with_suffix("") if path.suffix in (".safetensors", ".json") else path
    # Names may contain dots ("base_L10.v2"): append suffixes, never replace them.
    tensor_path = base.with_name(base.name + ".safetensors")
    sidecar = base.with_name(base.name + ".json")
    if not tensor_path.is_file() or not sidecar.is_file():
        where = Path(directory) if directory is not None else base.parent
        known = (
            sorted(p.name.removesuffix(".safetensors") for p in where.glob("*.safetensors"))
            if where.is_dir()
            else []
        )
        raise InputError(
            f"direction {str(base)!r} not found (need {tensor_path.name} and {sidecar.name}); "
            f"directions in {str(where)!r}: {', '.join(known) or 'none'}"
        )
    try:
        meta = json.loads(sidecar.read_text())
        vector = load_file(str(tensor_path))["vector"]
    except (json.JSONDecodeError, SafetensorError, KeyError, OSError) as err:
        raise InputError(f"direction {str(base)!r} is corrupt: {err}") from err
    if int(meta.get("d_model", vector.shape[0])) != vector.shape[0]:
        raise InputError(f"direction {str(base)!r}: sidecar d_model disagrees with the vector")
    return Direction(
        name=meta["name"],
        vector=vector,
        model=meta["model"],
        hook=meta["hook"],
        kind=meta["kind"],
        mean_resid_norm=meta.get("mean_resid_norm"),
        provenance=meta.get("provenance", {}),
    )


def load_directions(directory: str | Path, names: Iterable[str] | None = None) -> list[Direction]:
    """All directions in ``directory`` (sorted by name), or the named ones in the given order."""
    directory = Path(directory)
    if names is None:
        names = sorted(p.name.removesuffix(".safetensors") for p in directory.glob("*.safetensors"))
    return [load_direction(n, directory=directory) for n in names]


def check_same_space(directions: Iterable[Direction]) -> int:
    """Raise unless all directions share one d_model; returns it."""
    dims = {d.name: d.d_model for d in directions}
    if len(set(dims.values())) > 1:
        listing = ", ".join(f"{n}: {k}" for n, k in dims.items())
        raise InputError(f"directions have different d_model ({listing}); compare like with like")
    return next(iter(dims.values()), 0)
