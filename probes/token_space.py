"""A model's token geometry: embedding rows, unembedding columns and the final norm, on the CPU.

Used for the embedding/unembedding baselines, the token-identity probe baseline, the logit lens and
the max-cosine-with-token checks. :meth:`TokenSpace.from_hf` reads them off a loaded Hugging Face
model (a steering run has one already); :func:`load_token_space` loads one through
:func:`activation_store.models.load_hf_model` (spec name or local directory, as recorded in the
store's ``model_id``) and keeps only these matrices. They are the tensors TransformerLens's
unprocessed ``W_E``, ``W_U`` and ``ln_final.w`` hold.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal

import torch
from jaxtyping import Float

from activation_store.core.errors import InputError

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

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

    @classmethod
    def from_hf(
        cls, hf_model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, *, model_id: str
    ) -> TokenSpace:
        """The token matrices of a loaded Hugging Face causal LM (copied to the CPU, float32)."""
        from activation_store.models.convert import architecture_of
        from activation_store.models.hooks import GPT2_LIKE

        gpt2 = architecture_of(hf_model.config) in GPT2_LIKE
        model: Any = hf_model
        final_norm = model.transformer.ln_f if gpt2 else model.model.norm
        unembed = model.get_output_embeddings()
        return cls(
            model_id=model_id,
            W_E=model.get_input_embeddings().weight.detach().float().cpu().clone(),
            W_U=unembed.weight.detach().float().cpu().T.clone(),
            norm_kind="ln" if gpt2 else "rms",
            norm_weight=final_norm.weight.detach().float().cpu().clone(),
            tokenizer=tokenizer,
        )

    def check_width(self, d_model: int, model: str) -> None:
        """Refuse a token space of another width than ``model``'s residual stream."""
        if self.d_model != d_model:
            raise InputError(
                f"model {model!r} has d_model {d_model} but {self.model_id!r} has "
                f"{self.d_model}; pass the model the activations came from"
            )

    def is_unknown(self, token: int) -> bool:
        """Whether ``token`` is the tokenizer's unknown token (the word is not in the vocabulary)."""
        unk = getattr(self.tokenizer, "unk_token_id", None)
        return unk is not None and token == unk

    def tied(self, token: int) -> bool:
        """Whether ``token``'s embedding row equals its unembedding column (tied weights)."""
        return bool(torch.equal(self.W_E[token], self.W_U[:, token]))

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
    from activation_store.models import ModelConfig, load_hf_model

    hf_model, tokenizer = load_hf_model(ModelConfig(model=model_id, device=device, dtype=dtype))  # type: ignore[arg-type]
    space = TokenSpace.from_hf(hf_model, tokenizer, model_id=model_id)
    del hf_model
    return space
