"""Comparing directions: cosine matrices, logit lens, and similarity to token embeddings.

Interpretation: a backtracking direction that were merely a token's embedding or unembedding would
show a max cosine near 1 with that row (flagged), and its logit lens would rank "Wait" at the top.
The paper's claim 2 is that the base-derived direction is neither.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray

from activation_store.direction import Direction, check_same_space
from probes.config import DEFAULT_TOKENS
from probes.token_space import TokenSpace


@dataclass(frozen=True)
class CosineMatrix:
    """Pairwise cosine similarities between directions (same d_model)."""

    names: list[str]
    values: NDArray[np.float64]
    """[n, n] cos(names[i], names[j])."""

    def get(self, a: str, b: str) -> float:
        return float(self.values[self.names.index(a), self.names.index(b)])


def cosine_matrix(directions: Sequence[Direction]) -> CosineMatrix:
    """Cosines between any directions: across models, layers, offsets and kinds.

    Directions at different hooks or models share a coordinate system only when the models share
    their residual basis (e.g. a base model and its fine-tune); the numbers are computed regardless.
    """
    if not directions:
        return CosineMatrix(names=[], values=np.zeros((0, 0)))
    check_same_space(directions)
    units = torch.stack([d.unit.double() for d in directions])
    return CosineMatrix(names=[d.name for d in directions], values=(units @ units.T).numpy())


@dataclass(frozen=True)
class TokenScore:
    token: str
    token_id: int
    value: float


@dataclass(frozen=True)
class LogitLens:
    """A direction read through the final norm's gain and the unembedding."""

    direction: str
    model_id: str
    promoted: list[TokenScore]
    """Top-k tokens by logit (highest first)."""
    suppressed: list[TokenScore]
    """Bottom-k tokens by logit (lowest first)."""
    ranks: dict[str, int]
    """Rank of each backtracking word's first token among all tokens (1 = most promoted)."""
    rank_percentiles: dict[str, float]
    """Rank as a fraction of the vocabulary (0 = top; 0.5 = indifferent)."""


def logit_lens(
    direction: Direction, space: TokenSpace, *, k: int = 10, words: Sequence[str] = DEFAULT_TOKENS
) -> LogitLens:
    """Logits ``(g ⊙ v) @ W_U`` of the direction's unit vector (see
    :meth:`TokenSpace.through_final_norm`): which tokens adding it promotes and suppresses."""
    logits = space.through_final_norm(direction.unit) @ space.W_U
    order = torch.argsort(logits, descending=True)
    rank_of = torch.empty_like(order)
    rank_of[order] = torch.arange(1, len(order) + 1)

    def scores(idx: torch.Tensor) -> list[TokenScore]:
        return [TokenScore(space.decode(int(t)), int(t), float(logits[t])) for t in idx]

    ranks = {w: int(rank_of[space.token_id(w)[0]]) for w in words}
    return LogitLens(
        direction=direction.name,
        model_id=space.model_id,
        promoted=scores(order[:k]),
        suppressed=scores(order.flip(0)[:k]),
        ranks=ranks,
        rank_percentiles={w: (r - 1) / max(len(order) - 1, 1) for w, r in ranks.items()},
    )


@dataclass(frozen=True)
class TokenSimilarity:
    """How close a direction is to any single token's embedding or unembedding."""

    direction: str
    max_embed_cosine: float
    embed_token: str
    max_unembed_cosine: float
    unembed_token: str
    flagged: bool
    """True when either max cosine reaches the flag threshold: the direction is (nearly) a token."""


def token_similarity(
    direction: Direction, space: TokenSpace, *, flag_cosine: float = 0.7
) -> TokenSimilarity:
    """Max (signed) cosine of the direction with every W_E row and every W_U column."""
    u = direction.unit
    emb = (space.W_E @ u) / space.W_E.norm(dim=1).clamp_min(1e-12)
    unemb = (u @ space.W_U) / space.W_U.norm(dim=0).clamp_min(1e-12)
    ie, iu = int(emb.argmax()), int(unemb.argmax())
    me, mu = float(emb[ie]), float(unemb[iu])
    return TokenSimilarity(
        direction=direction.name,
        max_embed_cosine=me,
        embed_token=space.decode(ie),
        max_unembed_cosine=mu,
        unembed_token=space.decode(iu),
        flagged=max(me, mu) >= flag_cosine,
    )
