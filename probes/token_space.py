"""A model's token geometry: embedding rows, unembedding columns and the final norm, on the CPU.

Used for the embedding/unembedding baselines, the token-identity probe baseline, the logit lens and
the max-cosine-with-token checks. Loading goes through :func:`activation_store.models.load_model`
(spec name or local directory, as recorded in the store's ``model_id``); only these matrices are
kept, the rest of the model is dropped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Literal

import torch
from jaxtyping import Float

from activation_store.errors import InputError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TokenSpace:
    """Token-level matrices of one model (float32, CPU)."""

    model_id: str
    W_E: Float[torch.Tensor, "d_vocab d_model"]
    """Embedding matrix: row ``t`` is token ``t``'s input embedding."""
    W_U: Float[torch.Tensor, "d_model d_vocab"]
    """Unembedding matrix: column ``t`` reads out token ``t``'s logit."""
    norm_kind: Literal["rms", "ln"]
    norm_weight: Float[torch.Tensor, " d_model"]
    """Gain of the final RMSNorm/LayerNorm."""
    tokenizer: PreTrainedTokenizerBase

    @property
    def d_model(self) -> int:
        return int(self.W_E.shape[1])

    def token_id(self, word: str) -> tuple[int, list[int]]:
        """The first token of ``word`` (no special tokens) and all its tokens."""
        ids = list(self.tokenizer.encode(word, add_special_tokens=False))
        if not ids:
            raise InputError(f"word {word!r} tokenizes to nothing; pick another token")
        if len(ids) > 1:
            log.warning(
                "%r is %d tokens %s for %s; using the first", word, len(ids), ids, self.model_id
            )
        return ids[0], ids

    def decode(self, token: int) -> str:
        return str(self.tokenizer.decode([token]))

    def through_final_norm(
        self, v: Float[torch.Tensor, "... d_model"]
    ) -> Float[torch.Tensor, "... d_model"]:
        """The linear part of the final norm applied to a direction: gain ⊙ v (RMSNorm) or gain ⊙
        (v − mean v) (LayerNorm). The norm's scale (1/rms) only rescales all logits and its bias is
        the same for every direction, so both are left out of a direction's logit lens."""
        if self.norm_kind == "ln":
            v = v - v.mean(dim=-1, keepdim=True)
        return v * self.norm_weight


@lru_cache(maxsize=2)
def load_token_space(model_id: str, device: str = "cpu", dtype: str = "float32") -> TokenSpace:
    """Load ``model_id`` (spec or local directory) and keep its token matrices (cached per process)."""
    from activation_store.models import ModelConfig, load_model

    loaded = load_model(ModelConfig(model=model_id, device=device, dtype=dtype))  # type: ignore[arg-type]
    m = loaded.model
    kind: Literal["rms", "ln"] = "ln" if m.cfg.normalization_type in ("LN", "LNPre") else "rms"
    weight = getattr(m.ln_final, "w", None)
    if weight is None:
        weight = torch.ones(m.cfg.d_model)
    space = TokenSpace(
        model_id=model_id,
        W_E=m.W_E.detach().float().cpu().clone(),
        W_U=m.W_U.detach().float().cpu().clone(),
        norm_kind=kind,
        norm_weight=weight.detach().float().cpu().clone(),
        tokenizer=loaded.tokenizer,
    )
    del loaded, m
    return space
