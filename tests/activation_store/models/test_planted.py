"""Weight surgery of planted-mechanism models: the base is unchanged, the reader fires where
``u`` is present at a boundary and nowhere else, the null reader never fires on the traces."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from activation_store.models import planted_calibration as cal
from activation_store.models.planted import apply_surgery
from activation_store.models.planted_records import planted_record
from activation_store.models.tiny import tiny_llama_hf


def _ids(n: int = 4, length: int = 24, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(5, 400, (n, length), generator=g)


def test_zero_neurons_leave_the_model_unchanged() -> None:
    base, planted = tiny_llama_hf(0), tiny_llama_hf(0)
    d = base.config.hidden_size
    zero = [0.0] * d
    apply_surgery(planted, {"layer": 1, "neurons": [{"gate": zero, "up": zero, "down": zero}] * 2})
    assert planted.config.intermediate_size == base.config.intermediate_size + 2
    ids = _ids()
    with torch.no_grad():
        assert torch.allclose(base(ids).logits, planted(ids).logits, atol=1e-6)


def test_surgery_touches_only_the_next_block() -> None:
    base, planted = tiny_llama_hf(0), tiny_llama_hf(0)
    d = base.config.hidden_size
    g = torch.Generator().manual_seed(1)
    vec = lambda: torch.randn(d, generator=g).tolist()  # noqa: E731
    apply_surgery(planted, {"layer": 1, "neurons": [{"gate": vec(), "up": vec(), "down": vec()}]})
    ids = _ids()
    with torch.no_grad():
        hb = base(ids, output_hidden_states=True).hidden_states
        hp = planted(ids, output_hidden_states=True).hidden_states
    for i in range(3):  # embeddings, after block 0, after block 1 (= resid_post 1): unchanged
        assert torch.allclose(hb[i], hp[i], atol=1e-6)
    assert not torch.allclose(hb[3], hp[3], atol=1e-3)  # block 2 carries the neuron


def _synthetic_reader() -> tuple[object, object, np.ndarray, np.ndarray, float, float]:
    """A reader on a random unit u of tiny-llama-lines, on random lines of tokens; its gain
    saturates it within a fifth of the boundaries' spread of ``u·x/rms(x)``."""
    from activation_store.models.planted_tiny import _lines_base

    model, tok = _lines_base()
    newline = tok.convert_tokens_to_ids("Ċ")
    ids = _ids(16, 48, seed=2)
    ids[:, ::6] = newline
    traces = [(row.tolist(), 1) for row in ids]
    c = cal.collect(model, tok, traces, 1, boundary={newline})
    w_c, w_b, _ = cal.readouts(c)
    u = np.random.default_rng(0).standard_normal(c.xhat.shape[1])
    u /= np.linalg.norm(u)
    s = cal.projection(c, u)
    theta = float(np.quantile(s[c.boundary], 0.7))
    spread = float(s[c.boundary].std())
    down = np.zeros(c.xhat.shape[1])
    down[0] = 1.0
    gain = 5.0 / spread
    # κ must close the gate off the boundaries, where u·x/rms(x) may exceed θ by far more than
    # at them (the line break's mark dominates its normed input): κ ≥ gain·max(s − θ) + 10
    kappa = max(30.0, gain * float((s[~c.boundary] - theta).max()) + 10.0)
    neurons = cal.reader_neurons(u, c, w_c, w_b, theta=theta, gain=gain, down=down, kappa=kappa)
    return c, neurons, s, w_b, theta, spread


def test_the_reader_is_a_clipped_gate_on_u_at_boundaries() -> None:
    c, neurons, s, _, theta, spread = _synthetic_reader()
    x = torch.tensor(c.xhat)
    out = np.zeros(len(s))
    for n, sign in zip(neurons, (1, -1), strict=False):
        gate = torch.nn.functional.silu(x @ torch.tensor(n["gate"], dtype=torch.float32))
        out += sign * (gate * (x @ torch.tensor(n["up"], dtype=torch.float32))).numpy()
    fires = c.boundary & (s > theta + 0.25 * spread)
    below = c.boundary & (s < theta - 2 * spread)  # gate ≤ −10: silu's negative lobe is gone
    assert fires.any() and below.any()
    assert (
        np.mean(out[fires] > 0.5) > 0.9
    )  # on, near the saturation of 1 (read-outs are linear fits)
    off = out[~c.boundary]  # off-boundary, whatever u reads
    assert np.quantile(np.abs(off), 0.99) < 0.01 and np.abs(off).max() < 0.2
    assert np.abs(out[below]).max() < 0.01
    # between, silu(z) − silu(z − 1) dips below 0 (at most 0.28) before it rises to 1
    assert out.min() > -0.3
    assert out.max() < 1.2  # clipped


@pytest.mark.slow
def test_tiny_planted_records() -> None:
    single = planted_record("tiny-llama-planted-single")
    null = planted_record("tiny-llama-planted-null")
    assert single is not None and null is not None
    share = single["calibration"]["firing_share_boundaries"]
    assert 0.1 <= share <= 0.3
    assert null["directions"][0]["firing_share_boundaries"] == 0.0
    assert null["directions"][0]["threshold"] > null["directions"][0]["max_projection_on_traces"]
    u = np.array(single["directions"][0]["u"])
    assert abs(np.linalg.norm(u) - 1) < 1e-6
    assert planted_record("tiny-llama") is None


def test_the_tiny_base_carries_a_recency_concept_on_u() -> None:
    """tiny-llama-lines' recency head writes, along u at blocks.1.hook_resid_post, a token feature
    of the last tokens (mostly one of them, picked by its keys' noise): the projection persists
    over several tokens, varies within a sequence, and the current token's identity explains
    little of it."""
    from activation_store.models.planted_tiny import LAYER, _lines_base, _recency_head

    model, _ = _lines_base()
    u = torch.tensor(_recency_head()["u"], dtype=torch.float32)
    ids = _ids(16, 64, seed=4)
    with torch.no_grad():
        resid = model(ids, output_hidden_states=True).hidden_states[LAYER + 1]
    s = (resid @ u)[:, 8:].numpy()  # past the first tokens, whose window is short
    within = s - s.mean(axis=1, keepdims=True)
    window = np.stack([within[:, t - 6 : t - 1].mean(axis=1) for t in range(6, s.shape[1])], 1)
    # persists: the mean over the 2–6 tokens before (planted_quick's window) predicts it
    assert np.corrcoef(within[:, 6:].ravel(), window.ravel())[0, 1] > 0.5
    # varies within a sequence, not only between them (0.45 of the variance is within; it was
    # 0.54 before the line break's mark grew from 3 to 9 row norms)
    assert within.var() > 0.4 * s.var()
    tokens = ids[:, 8:].numpy().ravel()
    flat = s.ravel()
    means = {t: flat[tokens == t].mean() for t in np.unique(tokens)}
    explained = np.var([means[t] for t in tokens]) / flat.var()
    assert explained < 0.5  # not the token's identity (random ids: most tokens occur 2–3 times)
    v = torch.randn(u.shape[0], generator=torch.Generator().manual_seed(0))
    v -= v.dot(u) * u
    other = (resid @ (v / v.norm()))[:, 8:].numpy()
    assert within.std() > 2 * (other - other.mean(axis=1, keepdims=True)).std()  # u stands out


@pytest.mark.slow
def test_random_pushes_move_the_tiny_readers_gate_much_less_than_u() -> None:
    """Steering adds ``α·N·r`` to the residual; through the RMS norm that moves the reader's gate
    by ``α·√d·(g⊙w)·r`` (g: the gate vector over the normed input, w: the norm's weight). Along
    ``u`` that is ``α·√d·gain``; along a random unit direction its spread is ``α·|g⊙w|``. When the
    read-outs of the constant and the boundary dominated ``|g⊙w|`` (κ = 30 on a weakly marked
    line break), random directions at α = 0.2 opened or closed the gate as far as u did and the
    steering criterion passed or failed with the seed (README "Positive and null controls")."""
    from activation_store.models.planted_tiny import LAYER, _lines_base

    record = planted_record("tiny-llama-planted-single")
    assert record is not None
    model, _ = _lines_base()
    w = model.model.layers[LAYER + 1].post_attention_layernorm.weight.detach().numpy()
    gate = np.array(record["neurons"][0]["gate"])
    d = gate.shape[0]
    along_u = np.sqrt(d) * record["directions"][0]["gain"]
    random_spread = float(np.linalg.norm(gate * w))
    assert random_spread < 0.35 * along_u, (random_spread, along_u)
