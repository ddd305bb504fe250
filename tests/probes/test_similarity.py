from __future__ import annotations

import pytest
import torch

from activation_store.direction import Direction
from activation_store.models.tiny import tiny_tokenizer
from probes.similarity import cosine_matrix, logit_lens, token_similarity
from probes.token_space import TokenSpace


def _space(kind="rms", d=16):
    tok = tiny_tokenizer()
    gen = torch.Generator().manual_seed(0)
    V = len(tok)
    return TokenSpace(
        model_id="fake",
        W_E=torch.randn(V, d, generator=gen),
        W_U=torch.randn(d, V, generator=gen),
        norm_kind=kind,
        norm_weight=torch.rand(d, generator=gen) + 0.5,
        tokenizer=tok,
    )


def _dir(vec, name="v"):
    return Direction(name=name, vector=vec, model="m", hook="blocks.0.hook_resid_post", kind="x")


@pytest.mark.parametrize("kind", ["rms", "ln"])
def test_logit_lens_reads_through_the_norm_gain_and_unembedding(kind):
    space = _space(kind)
    v = torch.randn(16, generator=torch.Generator().manual_seed(1))
    lens = logit_lens(_dir(v), space, k=5)
    u = v / v.norm()
    if kind == "ln":
        u = u - u.mean()
    logits = (u * space.norm_weight) @ space.W_U
    top = torch.argsort(logits, descending=True)
    assert [s.token_id for s in lens.promoted] == top[:5].tolist()
    assert [s.token_id for s in lens.suppressed] == top.flip(0)[:5].tolist()
    hmm = space.token_id("Hmm")[0]
    assert lens.ranks["Hmm"] == 1 + int((logits > logits[hmm]).sum())
    assert 0 <= lens.rank_percentiles["Hmm"] <= 1


def test_a_token_embedding_is_flagged_and_a_random_direction_is_not():
    space = _space()
    sim = token_similarity(_dir(3 * space.W_E[300]), space)
    assert sim.max_embed_cosine == pytest.approx(1.0, abs=1e-5)
    assert sim.embed_token == space.decode(300) and sim.flagged
    other = token_similarity(
        _dir(torch.randn(16, generator=torch.Generator().manual_seed(3))), space
    )
    assert other.max_embed_cosine < 0.99


def test_cosine_matrix():
    a, b = torch.tensor([1.0, 0, 0]), torch.tensor([1.0, 1.0, 0])
    cos = cosine_matrix([_dir(a, "a"), _dir(b, "b"), _dir(-2 * a, "c")])
    assert cos.get("a", "b") == pytest.approx(2**-0.5)
    assert cos.get("a", "c") == pytest.approx(-1.0)
    assert cos.values.diagonal() == pytest.approx([1, 1, 1])
