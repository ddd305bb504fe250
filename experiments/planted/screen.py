"""Screen an SAE's latents for a planted reader's concept: issue #13's three conditions.

A planted reader's ``u`` should be a concept of the base model that a window before the
backtracking sentence can see and a token baseline cannot explain: active at 10–30 % of sentence
boundaries, persisting for ≥ 12 tokens, and not predictable from token identity (token-baseline
AUROC < 0.7). Per latent, over the generated tokens of base-model traces:

- ``share``: share of sentence boundaries where it is active;
- ``mean_run``: mean length of its runs of consecutive active tokens (within a trace);
- ``token_auroc``: AUROC, on the odd traces, of its activity against each token id's active rate
  on the even traces (unseen ids get the overall rate).

``python -m experiments.planted.screen --sae smollm2-135m-l10r-2x [--traces T.json]`` prints the
latents meeting each condition and the best candidates; ``--save-traces`` keeps the sampled
traces for the next screen.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SHARE = (0.10, 0.30)
MIN_RUN = 12.0
MAX_TOKEN_AUROC = 0.7


@dataclass(frozen=True)
class Screen:
    """Per-latent figures (arrays over latents)."""

    share: np.ndarray
    mean_run: np.ndarray
    token_auroc: np.ndarray

    def meets(self) -> dict[str, np.ndarray]:
        """Latent ids meeting each condition, and all three."""
        share = (self.share >= SHARE[0]) & (self.share <= SHARE[1])
        run = self.mean_run >= MIN_RUN
        token = self.token_auroc < MAX_TOKEN_AUROC
        return {
            "share": np.flatnonzero(share),
            "run": np.flatnonzero(run),
            "token": np.flatnonzero(token),
            "all": np.flatnonzero(share & run & token),
        }


def screen_latents(
    active: np.ndarray, tokens: np.ndarray, trace: np.ndarray, boundary: np.ndarray
) -> Screen:
    """Figures of every latent from ``active`` ([n tokens, n latents] bool) and, per token, its
    id, its trace index and whether it is a sentence boundary."""
    n_latents = active.shape[1]
    share = active[boundary].mean(axis=0) if boundary.any() else np.zeros(n_latents)
    same_trace = np.r_[False, trace[1:] == trace[:-1]]
    previous = np.zeros_like(active)
    previous[1:] = active[:-1] & same_trace[1:, None]
    starts = (active & ~previous).sum(axis=0)
    mean_run = np.where(starts > 0, active.sum(axis=0) / np.maximum(starts, 1), 0.0)
    fit, test = trace % 2 == 0, trace % 2 == 1
    ids, inverse = np.unique(tokens[fit], return_inverse=True)
    counts = np.bincount(inverse, minlength=len(ids)).astype(np.float64)
    rate = np.zeros((len(ids), n_latents))
    np.add.at(rate, inverse, active[fit].astype(np.float64))
    rate /= counts[:, None]
    overall = active[fit].mean(axis=0)
    where = np.searchsorted(ids, tokens[test])
    known = (where < len(ids)) & (ids[np.minimum(where, len(ids) - 1)] == tokens[test])
    score = np.where(known[:, None], rate[np.minimum(where, len(ids) - 1)], overall[None, :])
    return Screen(share, mean_run, _auroc_columns(score, active[test]))


def _auroc_columns(score: np.ndarray, label: np.ndarray) -> np.ndarray:
    """AUROC of each column of ``score`` for the same column of ``label`` (NaN: one class)."""
    from probes.metrics import ranking_metrics

    ones = np.ones((1, score.shape[0]))
    return np.array(
        [
            float(ranking_metrics(score[:, j], label[:, j], ones)[0][0])
            for j in range(score.shape[1])
        ]
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sae", required=True, help="SAE spec (built-in name or directory)")
    parser.add_argument(
        "--layer", type=int, help="block whose residual it reads (default: the SAE's hook's)"
    )
    parser.add_argument("--traces", help="JSON list of {ids, n_prompt} (default: sample 96)")
    parser.add_argument("--save-traces", help="write the traces used to this JSON file")
    parser.add_argument("--top", type=int, default=8, help="candidates to list")
    args = parser.parse_args(argv)

    import torch

    from activation_store.core.errors import ToolkitError
    from activation_store.models import planted_calibration as build
    from activation_store.models.config import ModelConfig
    from activation_store.models.hooks import parse_hook
    from activation_store.models.smollm2 import BASE_SPEC, load_smollm2_hf
    from experiments.planted.smollm2 import selection_traces
    from sae_analysis.loading import load_sae

    if args.traces and not Path(args.traces).is_file():
        parser.error(f"--traces {args.traces}: no such file (write one with --save-traces)")
    try:  # refuse a bad SAE before minutes of sampling
        loaded = load_sae(args.sae)
        hook = parse_hook(loaded.hook_name) if loaded.hook_name else None
    except ToolkitError as e:
        parser.error(f"--sae: {e}")
    sae_layer = hook.layer if hook is not None and hook.kind == "resid_post" else None
    layer = args.layer if args.layer is not None else sae_layer
    if layer is None:
        parser.error(f"--sae {args.sae} names no blocks.L.hook_resid_post; pass --layer")
    if sae_layer is not None and layer != sae_layer:
        parser.error(f"--layer {layer}: the SAE reads {loaded.hook_name}")
    model, tok = load_smollm2_hf(ModelConfig(model=BASE_SPEC))
    n_blocks = int(model.config.num_hidden_layers)
    if not 0 <= layer < n_blocks - 1:
        parser.error(f"--layer {layer}: must be 0…{n_blocks - 2} (the reader sits one block later)")
    if loaded.d_in != int(model.config.hidden_size):
        parser.error(
            f"--sae {args.sae}: d_in {loaded.d_in} != the model's width {model.config.hidden_size}"
        )
    traces = selection_traces(args.traces, tok.eos_token_id)
    if args.save_traces:
        rows = [{"ids": ids, "n_prompt": n} for ids, n in traces]
        Path(args.save_traces).write_text(json.dumps(rows))
    c = build.collect(model, tok, traces, layer)  # resid: blocks.{layer}.hook_resid_post
    assert c.resid is not None
    with torch.no_grad():
        active = (loaded.sae.encode(torch.from_numpy(c.resid)) > 0).numpy()
    s = screen_latents(active, c.tokens, c.trace, c.boundary)
    header = (
        f"{args.sae}: {len(traces)} traces, {len(c.tokens)} tokens, {int(c.boundary.sum())} "
        f"boundaries; {int(active.any(axis=0).sum())} of {active.shape[1]} latents active"
    )
    sys.stdout.write("\n".join([header, *describe(s, args.top)]) + "\n")


def describe(s: Screen, top: int = 8) -> list[str]:
    """Lines: how many latents meet each condition, the figures of those at a realistic share of
    boundaries, the least token-bound of them, and the longest-running latents."""
    met = s.meets()
    lines = [f"  {name}: {len(ids)} latents" for name, ids in met.items()]
    at = met["share"]
    lines.append(f"  latents active at {SHARE[0]:.0%}–{SHARE[1]:.0%} of boundaries: {len(at)}")

    def row(j: int) -> str:
        return f"{j}: share {s.share[j]:.2f}, run {s.mean_run[j]:.1f}, token {s.token_auroc[j]:.2f}"

    if len(at):
        lines.append(
            f"    mean run {s.mean_run[at].min():.1f}–{s.mean_run[at].max():.1f} tokens; token "
            f"AUROC {np.nanmin(s.token_auroc[at]):.2f}–{np.nanmax(s.token_auroc[at]):.2f}"
        )
        least = at[np.argsort(s.token_auroc[at])][:top]
        lines.append("    least token-bound: " + "; ".join(row(j) for j in least))
    lines.append("  longest runs: " + "; ".join(row(j) for j in np.argsort(-s.mean_run)[:top]))
    return lines


if __name__ == "__main__":
    main()
