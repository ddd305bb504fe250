"""Build the SmolLM2 planted records (single, joint, null) from base-model calibration traces.

``python -m experiments.planted.smollm2 [--traces T.json]``: samples calibration traces (the base
model under the reasoner's chat template on the derivation prompts, T = 0.7, 128 new tokens; the
planted reasoner's traces start like these), chooses the SAE latents, calibrates and writes
``activation_store/models/planted_weights/smollm2-135m-planted-{single,joint,null}.json``.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from activation_store.models import planted_calibration as build
from activation_store.models.config import ModelConfig
from activation_store.models.planted import RECORD_DIR
from activation_store.models.smollm2 import BASE_SPEC, REASONER_CHAT_TEMPLATE, load_smollm2_hf

LAYER = 10
SAE = "smollm2-135m-l10r-8x"
OPENER = " Wait"
SINGLE_LATENT = 4001
JOINT_LATENTS = (4001, 3185)
SHARE = 0.20
"""Boundaries the single reader fires on (joint: each reader half of it)."""
P_FIRE = 0.9
P_REFLEX = 0.12
KAPPA = 10.0
"""Boundary gate strength of the readers (the read-out's noise at boundaries is ≈ 0.05)."""
N_CALIBRATION = 48
"""Calibration traces used (a forward pass of 135M over more is minutes on a busy 2-core CPU)."""


def sample_traces(n: int, seed: int = 0) -> list[tuple[list[int], int]]:
    from experiments.prompts import load_prompts

    model, tok = load_smollm2_hf(ModelConfig(model=BASE_SPEC))
    tok.chat_template = REASONER_CHAT_TEMPLATE
    probs = load_prompts("reasoning-v1", split="derivation")
    random.Random(seed).shuffle(probs)
    out = []
    torch.manual_seed(seed)
    for p in tqdm(probs[:n], desc="sampling selection traces", unit="trace"):
        text = tok.apply_chat_template(
            [{"role": "user", "content": p.prompt}], tokenize=False, add_generation_prompt=True
        )
        ids = tok(text, return_tensors="pt").input_ids
        g = model.generate(ids, max_new_tokens=128, do_sample=True, temperature=0.7)  # type: ignore[operator]
        out.append((g[0].tolist(), ids.shape[1]))
    return out


def strip_at_eos(traces: list[tuple[list[int], int]], eos: int) -> list[tuple[list[int], int]]:
    """Each trace cut at its first end-of-text token after the prompt; empty completions dropped."""
    out = []
    for ids, n in traces:
        gen = ids[n:]
        if eos in gen:
            gen = gen[: gen.index(eos)]
        if gen:
            out.append((ids[:n] + gen, n))
    return out


def selection_traces(path: str | None, eos: int) -> list[tuple[list[int], int]]:
    """The 96 latent-selection traces (:func:`sample_traces`), or those saved at ``path`` (a JSON
    list of ``{ids, n_prompt}``), cut at their end-of-text token."""
    if path:
        raw = [(t["ids"], t["n_prompt"]) for t in json.loads(Path(path).read_text())]
    else:
        raw = sample_traces(96)
    return strip_at_eos(raw, eos)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--traces", help="JSON list of {ids, n_prompt} (default: sample 96)")
    args = parser.parse_args(argv)
    from sae_analysis.loading import load_sae

    model, tok = load_smollm2_hf(ModelConfig(model=BASE_SPEC))
    traces = selection_traces(args.traces, tok.eos_token_id)[:N_CALIBRATION]
    c = build.collect(model, tok, traces, LAYER)
    w_c, w_b, fit = build.readouts(c)
    sae = load_sae(SAE).sae
    decoder = sae.W_dec.detach().float().numpy()
    down, token = build.opener_direction(model, tok, OPENER)
    starts = np.cumsum([0] + [len(ids) - n for ids, n in traces])

    def make() -> Any:
        return load_smollm2_hf(ModelConfig(model=BASE_SPEC))[0]

    def common(name: str, variant: str) -> dict[str, Any]:
        return {
            "name": name,
            "variant": variant,
            "base": BASE_SPEC,
            "layer": LAYER,
            "hook": f"blocks.{LAYER}.hook_resid_post",
            "opener": OPENER,
            "opener_token": token,
            "chat_template": "reasoner",
            "calibration": {
                "traces": f"{len(traces)} base-model samples (reasoner chat template, T = 0.7, "
                "≤ 128 new tokens) on reasoning-v1 derivation prompts",
                "tokens": len(c.tokens),
                "boundaries": int(c.boundary.sum()),
                **fit,
            },
        }

    def reader_parts(u: np.ndarray, share: float) -> tuple[float, float, np.ndarray]:
        s = build.projection(c, u)
        sb = s[c.boundary]
        theta = float(np.quantile(sb, 1 - share))
        gain = float(1.0 / (0.25 * sb.std()))
        fires = c.boundary & (s > theta)
        return theta, gain, fires

    def mask_of(fires: np.ndarray) -> Any:
        return lambda k: fires[starts[k] : starts[k + 1]]

    records: dict[str, dict[str, Any]] = {}
    # single and joint
    for variant, latents, share in (
        ("single", (SINGLE_LATENT,), SHARE),
        ("joint", JOINT_LATENTS, SHARE / 2),
    ):
        parts = []
        for lat in latents:
            u = decoder[lat] / np.linalg.norm(decoder[lat])
            theta, gain, fires = reader_parts(u, share)
            parts.append((lat, u, theta, gain, fires))
        saturated = np.zeros_like(c.boundary)
        for _, u, theta, gain, _ in parts:
            saturated |= c.boundary & (build.projection(c, u) > theta + 1.0 / gain)

        def record(
            scale: float, parts: list[Any] = parts, variant: str = variant
        ) -> dict[str, Any]:
            neurons = []
            for _, u, theta, gain, _ in parts:
                neurons += build.reader_neurons(
                    u, c, w_c, w_b, theta=theta, gain=gain, down=scale * down, kappa=KAPPA
                )
            return {"layer": LAYER, "neurons": neurons}

        sub = _subset(traces, starts, saturated)
        scale, p = build.calibrate_scale(
            make,
            record,
            tok,
            [traces[k] for k in sub],
            token,
            _sub_mask(saturated, starts, sub),
            P_FIRE,
            steps=4,
        )
        union = np.zeros_like(c.boundary)
        for *_, fires in parts:
            union |= fires
        name = f"smollm2-135m-planted-{variant}"
        rec = common(name, variant)
        rec["directions"] = [
            {
                "name": f"u{i + 1}" if len(parts) > 1 else "u",
                "u": u.tolist(),
                "source": f"{SAE} decoder row {lat}",
                "sae_latent": lat,
                "threshold": theta,
                "gain": gain,
                "firing_share_boundaries": float(fires[c.boundary].mean()),
            }
            for i, (lat, u, theta, gain, fires) in enumerate(parts)
        ]
        rec["writer_scale"] = scale
        rec["calibration"]["p_opener_at_saturated_firing"] = p
        rec["calibration"]["firing_share_boundaries"] = float(union[c.boundary].mean())
        rec.update(record(scale))
        records[variant] = rec
    # null: a dead latent's decoder row, threshold above anything seen, plus a reflex
    assert c.resid is not None
    with torch.no_grad():
        active = (sae.encode(torch.tensor(c.resid)) > 0).any(0)
    dead = int(torch.nonzero(~active)[0])
    u = decoder[dead] / np.linalg.norm(decoder[dead])
    s = build.projection(c, u)
    theta = float(s.max() + 3 * s.std())
    gain = float(1.0 / (0.25 * s[c.boundary].std()))
    mask_of(c.boundary)

    def null_record(scale: float) -> dict[str, Any]:
        neurons = build.reader_neurons(u, c, w_c, w_b, theta=theta, gain=gain, down=scale * down)
        neurons.append(build.reflex_neuron(w_c, w_b, down=scale * down / 0.731))
        return {"layer": LAYER, "neurons": neurons}

    sub = _subset(traces, starts, c.boundary)
    scale, p = build.calibrate_scale(
        make,
        null_record,
        tok,
        [traces[k] for k in sub],
        token,
        _sub_mask(c.boundary, starts, sub),
        P_REFLEX,
        steps=4,
    )
    rec = common("smollm2-135m-planted-null", "null")
    rec["directions"] = [
        {
            "name": "u",
            "u": u.tolist(),
            "source": f"{SAE} decoder row {dead} (a latent never active on the calibration traces)",
            "sae_latent": dead,
            "threshold": theta,
            "gain": gain,
            "max_projection_on_traces": float(s.max()),
            "firing_share_boundaries": float((c.boundary & (s > theta))[c.boundary].mean()),
        }
    ]
    rec["reflex"] = {"p_opener_at_boundaries": p, "writer_scale": scale}
    rec["writer_scale"] = scale
    rec.update(null_record(scale))
    records["null"] = rec
    RECORD_DIR.mkdir(exist_ok=True)
    for r in records.values():
        (RECORD_DIR / f"{r['name']}.json").write_text(json.dumps(r) + "\n")


N_SCALE_TRACES = 8
"""Traces (holding selected positions) the writer's scale is bisected on: a forward pass of all
96 is minutes on a busy CPU."""


def _subset(traces: list[Any], starts: np.ndarray, sel: np.ndarray) -> list[int]:
    return [k for k in range(len(traces)) if sel[starts[k] : starts[k + 1]].any()][:N_SCALE_TRACES]


def _sub_mask(sel: np.ndarray, starts: np.ndarray, sub: list[int]) -> Any:
    return lambda i: sel[starts[sub[i]] : starts[sub[i] + 1]]


def _dead_latent(model: Any, tok: Any, traces: list[tuple[list[int], int]], sae: Any) -> int:
    """The first latent never active on the traces' block-``LAYER`` residual output."""
    active = None
    with torch.no_grad():
        for ids, n in traces:
            h = model(torch.tensor([ids]), output_hidden_states=True).hidden_states[LAYER + 1][
                0, n:
            ]
            a = (sae.encode(h.float()) > 0).any(0)
            active = a if active is None else active | a
    assert active is not None
    return int(torch.nonzero(~active)[0])


if __name__ == "__main__":
    main()
