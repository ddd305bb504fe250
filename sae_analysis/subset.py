"""Encode only a few features of a large SAE, through sae_lens's own ``encode``.

Scanning a store with a 131k-feature SAE costs ``d_in × d_sae`` per token; the data view needs a few
dozen features. For architectures whose features are computed independently of each other
(standard, JumpReLU, gated) a smaller SAE of the same sae_lens class is built from the chosen
columns of the encoder (and rows of the decoder), so ``encode`` runs sae_lens's code on a slice.
Top-k style SAEs couple features (a feature fires only if it is among the k largest), so for them
the full SAE is run and the columns are picked afterwards.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch
from jaxtyping import Float
from torch import Tensor

if TYPE_CHECKING:
    from sae_lens import SAE

log = logging.getLogger(__name__)

FEATURE_WISE = frozenset({"standard", "jumprelu", "gated"})
"""Architectures whose feature activations do not depend on the other features."""


class FeatureEncoder:
    """``encoder(x)`` → activations of ``indices`` (in that order) for inputs ``x``."""

    def __init__(self, sae: SAE[Any], indices: Sequence[int]) -> None:
        self.indices = [int(i) for i in indices]
        self.full = sae
        self.subset = sliced_sae(sae, self.indices)
        self._columns = torch.tensor(self.indices, dtype=torch.long, device=sae.W_dec.device)

    @property
    def sliced(self) -> bool:
        """Whether a slice of the SAE is run (else the full SAE)."""
        return self.subset is not None

    @torch.no_grad()
    def __call__(self, x: Float[Tensor, "n d_in"]) -> Float[Tensor, "n k"]:
        if self.subset is not None:
            return self.subset.encode(x.to(self.subset.W_dec.device)).float()
        acts = self.full.encode(x.to(self.full.W_dec.device))
        return acts.index_select(-1, self._columns).float()


def sliced_sae(sae: SAE[Any], indices: Sequence[int]) -> SAE[Any] | None:
    """An SAE of the same class holding only ``indices``, or None if features are coupled."""
    architecture = str(sae.cfg.architecture())
    if architecture not in FEATURE_WISE:
        log.info("%s SAEs couple features: the data view runs the full SAE", architecture)
        return None
    idx = torch.tensor(list(indices), dtype=torch.long, device=sae.W_dec.device)
    state = _sliced_state(sae.state_dict(), idx, int(sae.cfg.d_sae))
    if state is None:
        log.info("unexpected %s parameters: the data view runs the full SAE", architecture)
        return None
    cfg_dict = sae.cfg.to_dict()
    device = sae.cfg.device
    cfg_dict.update(d_sae=len(indices), device="meta")
    cfg = type(sae.cfg).from_dict(cfg_dict)
    sub = type(sae)(cfg)
    sub.load_state_dict(state, assign=True)
    sub.cfg.device = device
    return sub.to(device=sae.W_dec.device).eval()


def _sliced_state(state: dict[str, Tensor], idx: Tensor, d_sae: int) -> dict[str, Tensor] | None:
    out: dict[str, Tensor] = {}
    for name, tensor in state.items():
        if name == "W_enc":
            out[name] = tensor.index_select(1, idx).clone()
        elif name == "W_dec":
            out[name] = tensor.index_select(0, idx).clone()
        elif name == "b_dec" or tensor.ndim == 0:
            out[name] = tensor.clone()
        elif tensor.ndim == 1 and tensor.shape[0] == d_sae:
            out[name] = tensor.index_select(0, idx).clone()
        else:
            return None
    return out
