"""Train a small SAE on a store's activations with sae_lens's own trainer.

For SAEs that no one has released: the model organism, tiny test models, or a quick check of how a
result depends on the dictionary. sae_lens's training SAE classes and ``SAETrainer`` do the work;
the store feeds them batches of one hook's activations (positions ≥ ``skip_first_tokens``,
reshuffled each epoch). The result is written in sae_lens's saved format, with the store model's
id and the hook in its metadata, and loaded back with :func:`~sae_analysis.loading.load_sae`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from numpy.typing import NDArray

from activation_store.core.errors import InputError
from activation_store.reader import ActivationStore
from sae_analysis.loading import LoadedSae, load_sae
from sae_analysis.preflight import valid_rows

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """A small SAE training run on one hook of one store model."""

    d_sae: int = 256
    """Number of features."""
    architecture: Literal["standard", "jumprelu", "topk"] = "standard"
    """sae_lens training architecture."""
    steps: int = 200
    """Optimiser steps."""
    batch_size: int = 256
    """Activations per step."""
    lr: float = 1e-3
    """Adam learning rate (constant)."""
    l1_coefficient: float = 1.0
    """Sparsity penalty of the standard architecture."""
    k: int = 16
    """Active features per token of the topk architecture."""
    skip_first_tokens: int = 1
    """Positions below this are not trained on (the BOS / attention-sink token)."""
    seed: int = 0
    """Seeds the initial weights and the batch order."""
    device: str = "cpu"

    def __post_init__(self) -> None:
        for name in ("d_sae", "steps", "batch_size", "k"):
            if getattr(self, name) < 1:
                raise InputError(f"{name}={getattr(self, name)} must be ≥ 1")
        if self.lr <= 0:
            raise InputError(f"lr={self.lr} must be positive")


def train_sae_on_store(
    store_path: str | Path, model: str, hook: str, out: str | Path, config: TrainConfig
) -> LoadedSae:
    """Train an SAE on ``model``'s activations at ``hook``; save it to ``out``; load it back."""
    from sae_lens.config import LoggingConfig, SAETrainerConfig
    from sae_lens.training.sae_trainer import SAETrainer

    with ActivationStore(store_path) as store:
        rows = valid_rows(store, model, config.skip_first_tokens)
        d_in = store.d_model(model)
        model_id = str(store.model_attrs(model).get("model_id", model))
        if hook not in store.hooks(model):
            raise InputError(
                f"hook {hook!r} is not cached for {model!r}; cached: {', '.join(store.hooks(model))}"
            )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            sae = _training_sae(config, d_in, model_id, hook)
        trainer_cfg = SAETrainerConfig(
            total_training_samples=config.steps * config.batch_size,
            train_batch_size_samples=config.batch_size,
            lr=config.lr,
            lr_end=config.lr,
            device=config.device,
            logger=LoggingConfig(log_to_wandb=False),
        )
        batches = _batches(store, model, hook, rows, config)
        trainer = SAETrainer(cfg=trainer_cfg, sae=sae, data_provider=batches)
        trained = trainer.fit()
    trained.save_inference_model(out)
    log.info(
        "trained a %s SAE (%d features) on %r at %s → %s",
        config.architecture,
        config.d_sae,
        model,
        hook,
        out,
    )
    return load_sae(out, device=config.device)


def _training_sae(config: TrainConfig, d_in: int, model_id: str, hook: str) -> Any:
    from sae_lens import (
        JumpReLUTrainingSAE,
        JumpReLUTrainingSAEConfig,
        StandardTrainingSAE,
        StandardTrainingSAEConfig,
        TopKTrainingSAE,
        TopKTrainingSAEConfig,
    )
    from sae_lens.saes.sae import SAEMetadata

    common: dict[str, Any] = {
        "d_in": d_in,
        "d_sae": config.d_sae,
        "device": config.device,
        "metadata": SAEMetadata(model_name=model_id, hook_name=hook),
    }
    if config.architecture == "standard":
        return StandardTrainingSAE(
            StandardTrainingSAEConfig(l1_coefficient=config.l1_coefficient, **common)
        )
    if config.architecture == "jumprelu":
        return JumpReLUTrainingSAE(JumpReLUTrainingSAEConfig(**common))
    return TopKTrainingSAE(TopKTrainingSAEConfig(k=config.k, **common))


def _batches(
    store: ActivationStore, model: str, hook: str, rows: NDArray[np.int64], config: TrainConfig
) -> Iterator[torch.Tensor]:
    """Endless shuffled batches of exactly ``batch_size`` rows (epochs reshuffled by seed)."""
    if rows.size < config.batch_size:
        raise InputError(
            f"{rows.size} usable tokens in the store, fewer than batch_size={config.batch_size}"
        )
    epoch = 0
    while True:
        for batch in store.iter_batches(
            model, [hook], rows=rows, batch_size=config.batch_size, seed=config.seed + epoch
        ):
            if len(batch.rows) == config.batch_size:
                yield batch.acts[hook]
        epoch += 1
