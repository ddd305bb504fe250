"""Baseline directions made at run time, norm-matched to the directions under test.

When the directions directory has none of a kind, a sweep adds: ``n_random`` Gaussian random
directions, and the embedding and unembedding rows of "Wait" and "But" (the question: is the
direction more than a token-embedding effect?). Each has the mean norm (and mean residual norm) of
the non-baseline directions at the same hook, so every steering unit compares like with like.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch

from activation_store.directions import Direction

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

logger = logging.getLogger(__name__)

BASELINE_KINDS = frozenset({"random", "mean_activation", "embedding", "unembedding", "offset0"})
"""Kinds that are controls, not candidate mechanisms (a reasoning-derived direction is compared
too, but it is a candidate)."""


def _reference(directions: Sequence[Direction], hook: str) -> tuple[float, float | None, str]:
    """Mean norm, mean residual norm and model of the non-baseline directions at ``hook``."""
    at_hook = [d for d in directions if d.hook == hook and d.kind not in BASELINE_KINDS]
    at_hook = at_hook or [d for d in directions if d.hook == hook]
    norm = float(sum(d.norm for d in at_hook) / len(at_hook))
    resid = [d.mean_resid_norm for d in at_hook if d.mean_resid_norm is not None]
    return norm, (sum(resid) / len(resid) if resid else None), at_hook[0].model


def random_directions(directions: Sequence[Direction], n: int, seed: int) -> list[Direction]:
    """``n`` seeded Gaussian directions per hook of ``directions``, norm-matched to them."""
    out = []
    for hook in dict.fromkeys(d.hook for d in directions):
        norm, resid, model = _reference(directions, hook)
        d_model = next(d.d_model for d in directions if d.hook == hook)
        for i in range(n):
            generator = torch.Generator().manual_seed(seed + i)
            vector = torch.randn(d_model, generator=generator, dtype=torch.float64)
            layer = hook.split(".")[1] if hook.startswith("blocks.") else "embed"
            out.append(
                Direction(
                    name=f"random{seed + i}_L{layer}",
                    vector=(vector / vector.norm() * norm).float(),
                    model=model,
                    hook=hook,
                    kind="random",
                    mean_resid_norm=resid,
                    provenance={"seed": seed + i, "norm_matched_to": norm, "made_by": "sweep"},
                )
            )
    return out


def token_directions(
    hf_model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    words: Sequence[str],
    directions: Sequence[Direction],
    *,
    model_id: str,
) -> list[Direction]:
    """Embedding and unembedding rows of each word's first token, at each hook, norm-matched."""
    embed = _weight(hf_model.get_input_embeddings())
    unembed = _weight(hf_model.get_output_embeddings())
    out = []
    for hook in dict.fromkeys(d.hook for d in directions):
        norm, resid, model = _reference(directions, hook)
        layer = hook.split(".")[1] if hook.startswith("blocks.") else "embed"
        for word in words:
            ids = tokenizer(word, add_special_tokens=False)["input_ids"]
            token = tokenizer.convert_ids_to_tokens(ids[0])
            provenance: dict[str, Any] = {
                "word": word,
                "token_id": ids[0],
                "token": token,
                "word_token_ids": ids,
                "source_model": model_id,
                "norm_matched_to": norm,
                "made_by": "sweep",
            }
            tied = torch.equal(embed[ids[0]], unembed[ids[0]])
            if tied:  # tied weights (e.g. SmolLM2): one direction stands for both
                provenance["also_unembedding"] = True
                logger.info("embedding and unembedding of %r are tied: one baseline for both", word)
            for kind, matrix in (("embedding", embed), ("unembedding", unembed))[
                : 1 if tied else 2
            ]:
                row = matrix[ids[0]].to("cpu", torch.float32)
                out.append(
                    Direction(
                        name=f"{SHORT[kind]}_{_safe(word)}_L{layer}",
                        vector=row / row.norm() * norm,
                        model=model,
                        hook=hook,
                        kind=kind,
                        mean_resid_norm=resid,
                        provenance=provenance,
                    )
                )
            if len(ids) > 1:
                logger.info(
                    "%r is %d tokens; its baselines use the first, %r", word, len(ids), token
                )
    return out


def _weight(module: Any) -> torch.Tensor:
    return module.weight.detach()  # type: ignore[no-any-return]


SHORT = {"embedding": "embed", "unembedding": "unembed"}


def _safe(word: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in word) or "token"
