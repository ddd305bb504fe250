"""The SAE stage of ``backtrack organism build``: cache → train → evaluate → save, per layer."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Sequence
from pathlib import Path

from experiments.organism.sae_data import general_sequences, trace_sequences
from experiments.organism.sae_train import (
    IGNORED_TOKEN,
    SaeConfig,
    hook_of,
    metrics_record,
    reconstruction_metrics,
    save_sae,
    spliced_metrics,
    split_rows,
    train_sae,
)
from experiments.organism.traces import SyntheticTrace

logger = logging.getLogger(__name__)

STORE_MODEL = "base"
PRETRAINED_DIR = Path(__file__).resolve().parents[2] / "sae_analysis" / "pretrained"
"""Where shipped SAEs live (package data of ``sae_analysis``)."""


def sae_name(config: SaeConfig, layer: int) -> str:
    """Directory (and built-in) name of one SAE, e.g. ``smollm2-135m-l10r-8x`` (Llama Scope style:
    layer 10, residual stream, 8× expansion)."""
    return f"{config.sae_model}-l{layer}r-{config.sae_expansion}x"


def ignored_token_id(tokenizer: object) -> int:
    """Id of ``<|im_start|>`` (-1 if the tokenizer has no such token, e.g. the tiny test models)."""
    found = tokenizer.convert_tokens_to_ids(IGNORED_TOKEN)  # type: ignore[attr-defined]
    unk = getattr(tokenizer, "unk_token_id", None)
    return -1 if found is None or (found == unk and unk is not None) else int(found)


def cache_for_sae(out: Path, traces: Sequence[SyntheticTrace], config: SaeConfig) -> Path:
    """Cache the base model's residual stream at every SAE layer (resumes an interrupted run)."""
    from activation_store import ActivationStore, TokenTable
    from activation_store.cache_config import CacheConfig
    from activation_store.capture import cache_activations
    from activation_store.models import ModelConfig, load_model
    from experiments.organism.chat import reasoner_tokenizer

    path = out / "sae" / "activations.h5"
    loaded = load_model(ModelConfig(model=config.sae_model))
    tokenizer = reasoner_tokenizer(loaded.tokenizer)
    seqs = trace_sequences(tokenizer, traces)
    seqs += general_sequences(
        tokenizer, max_tokens=config.sae_general_tokens, context=config.sae_context
    )
    tokens = TokenTable.from_sequences([s for s, _ in seqs], [ids for _, ids in seqs])
    hooks = tuple(hook_of(layer) for layer in config.sae_layers)
    resume = False
    if path.exists():
        with ActivationStore(path) as store:
            if STORE_MODEL in store.models and store.committed_rows(STORE_MODEL) == tokens.n_tokens:
                return path
            resume = STORE_MODEL in store.models
    path.parent.mkdir(parents=True, exist_ok=True)
    cache_activations(
        loaded, tokens, path, CacheConfig(hooks=hooks, name=STORE_MODEL, resume=resume)
    )
    return path


def run_sae_stage(
    out: Path, traces: Sequence[SyntheticTrace], config: SaeConfig, *, ship: bool
) -> dict[str, dict[str, object]]:
    """Train, evaluate and save every SAE of ``config``; returns ``{name: metrics}``."""
    from sae_lens import SAE

    from activation_store import ActivationStore
    from activation_store.models import ModelConfig, load_model

    store_path = cache_for_sae(out, traces, config)
    hooked = load_model(ModelConfig(model=config.sae_model))
    ignored = ignored_token_id(hooked.tokenizer)
    results: dict[str, dict[str, object]] = {}
    with ActivationStore(store_path) as store:
        train_rows, eval_rows, eval_seqs = split_rows(store, config, ignored)
        n_traces = len(traces)  # the store holds the traces first, then the general text
        eval_ids = {
            kind: [store.tokens.sequence(s).tolist() for s in seqs[: config.sae_eval_sequences]]
            for kind, seqs in (
                ("traces", [s for s in eval_seqs if s < n_traces]),
                ("general", [s for s in eval_seqs if s >= n_traces]),
            )
        }
        for layer in config.sae_layers:
            directory = out / "sae" / sae_name(config, layer)
            if not (directory / "metrics.json").is_file():
                if not (directory / "cfg.json").is_file():  # else trained already: evaluate it
                    metadata = {"model_name": config.sae_model, "context_size": config.sae_context,
                                "prepend_bos": False, "dataset_path": "organism traces + general text"}  # fmt: skip
                    sae = train_sae(store, STORE_MODEL, layer, train_rows, config, metadata)
                    save_sae(sae, directory)
                sae = SAE.load_from_disk(directory)  # evaluate what ships (fp16 weights)
                recon = reconstruction_metrics(sae, store, STORE_MODEL, hook_of(layer), eval_rows)
                spliced = {
                    kind: spliced_metrics(sae, hooked.model, ids, hook_of(layer), ignored)
                    for kind, ids in eval_ids.items()
                    if ids
                }
                metrics = metrics_record(hook_of(layer), sae, recon, spliced["traces"],
                                         len(train_rows), spliced.get("general"))  # fmt: skip
                record = {
                    "metrics": dataclasses.asdict(metrics),
                    "config": dataclasses.asdict(config),
                }
                (directory / "metrics.json").write_text(json.dumps(record, indent=2))
            results[sae_name(config, layer)] = json.loads((directory / "metrics.json").read_text())
            if ship:
                _ship(directory, PRETRAINED_DIR / sae_name(config, layer))
    return results


def _ship(source: Path, target: Path) -> None:
    import shutil

    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(source, tmp)
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    logger.info("shipped %s to %s", source.name, target)
