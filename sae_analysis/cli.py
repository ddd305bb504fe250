"""``backtrack decompose``: a direction → SAE features (heavy imports inside the handler)."""

from __future__ import annotations

import argparse

from activation_store.core.configs import add_config_arguments


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from sae_analysis.config import DecomposeConfig

    parser = subparsers.add_parser(
        "decompose",
        help="decompose a direction into sparse-autoencoder features",
        description=(
            "Check the SAE against the store (d_in, hook, reconstruction), then decompose the "
            "direction: cosine with every decoder row, the SAE's encoder on it, a sparse "
            "reconstruction for k = 1…K with the unexplained share, and the features' activations "
            "before backtracking in the stored traces. Writes decomposition.json, figures, HTML "
            "cards and the chosen features as directions into --out."
        ),
    )
    parser.add_argument(
        "--direction",
        required=True,
        help="the direction: NAME.safetensors (with NAME.json beside it)",
    )
    parser.add_argument(
        "--sae",
        required=True,
        help="a directory in sae_lens's format, a built-in name (sae_analysis/pretrained/), or "
        "RELEASE:SAE_ID from sae_lens's registry already in the local Hugging Face cache "
        "(e.g. llama_scope_lxr_8x:l10r_8x)",
    )
    parser.add_argument("--store", required=True, help="the HDF5 activation store")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument(
        "--tokenizer",
        default=None,
        help="spec or local directory whose tokenizer decodes contexts (default: the store model's)",
    )
    add_config_arguments(parser, DecomposeConfig)
    parser.set_defaults(handler=_decompose)


def _decompose(args: argparse.Namespace) -> int:
    from activation_store.core.configs import config_from_args
    from sae_analysis.config import DecomposeConfig
    from sae_analysis.preflight import PoorFitError
    from sae_analysis.run import record_refusal, run_decompose

    config = config_from_args(DecomposeConfig, args)
    try:
        outputs = run_decompose(
            args.direction, args.sae, args.store, args.out, config, tokenizer=args.tokenizer
        )
    except PoorFitError as err:
        if config.on_poor_fit != "record":
            raise
        path = record_refusal(args.out, str(err), direction=args.direction, sae=args.sae)
        print(f"not analysed: {err}; recorded in {path}")
        return 0
    r = outputs.result
    pre, sparse = r.preflight, r.sparse
    print(
        f"preflight: SAE {r.sae['sae_id']} on {pre.model!r} at {pre.hook}: reconstruction cosine "
        f"{pre.cosine:.3f}, explained variance {pre.explained_variance:.3f}"
        + (" (FORCED)" if pre.forced else "")
    )
    ev = sparse.explained_variance[-1] if sparse.steps else 0.0
    print(
        f"{sparse.steps} features explain {ev:.1%} of {r.direction['name']}; "
        f"{r.unexplained_share:.1%} unexplained (stop: {sparse.stop_reason})"
    )
    for f in r.features[:5]:
        auroc = f.stats.auroc if f.stats is not None else None
        print(
            f"  f{f.index}: cosine {f.cosine:+.3f}"
            + (f", contribution {f.contribution:+.3f}" if f.contribution is not None else "")
            + (f", AUROC {auroc:.3f}" if auroc is not None else "")
        )
    for warning in r.warnings:
        print(f"warning: {warning}")
    print(f"wrote {outputs.json}, {outputs.html[0]}, {len(outputs.directions)} directions")
    return 0
