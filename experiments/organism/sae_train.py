"""Train TopK SAEs on the base model's residual stream with sae_lens's own trainer.

Activations come from our HDF5 store (``backtrack cache`` machinery): the base model run over the
training traces and general text (:mod:`experiments.organism.sae_data`). sae_lens's
:class:`~sae_lens.training.sae_trainer.SAETrainer` consumes them as a stream of batches; the
trained SAE is saved in sae_lens's inference format (``cfg.json`` + ``sae_weights.safetensors``,
weights in fp16, loading as float32 by default) so ``SAE.load_from_disk`` reads it.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from activation_store.models.hooks import hook_name
from experiments.organism.config import SaeConfig

if TYPE_CHECKING:
    from sae_lens import SAE

    from activation_store import ActivationStore

logger = logging.getLogger(__name__)

IGNORED_TOKEN = "<|im_start|>"


@dataclass(frozen=True, kw_only=True)
class SaeMetrics:
    """How well an SAE reconstructs held-out activations and the model's predictions."""

    hook: str
    d_sae: int
    l0: float
    """Mean active latents per held-out token."""
    explained_variance: float
    """1 − Σ‖x − x̂‖² / Σ‖x − x̄‖² over held-out tokens."""
    dead_fraction: float
    """Share of latents that never fire on the held-out tokens."""
    ce_loss_clean: float
    """CE loss on held-out reasoning traces (the ``ce_*`` and ``kl_*`` fields without a suffix)."""
    ce_loss_with_sae: float
    ce_loss_zero_ablation: float
    ce_loss_increase: float
    """``ce_loss_with_sae − ce_loss_clean`` (nats per token) when the SAE is spliced in."""
    ce_recovered: float
    """Share of the zero-ablation CE increase that the SAE recovers."""
    kl_with_sae: float
    """Mean KL(clean ‖ spliced) per token."""
    n_train_rows: int
    n_eval_rows: int
    ce_loss_clean_general: float | None = None
    """The same figures on held-out general text (``_general``); None for SAEs evaluated before
    they were measured there."""
    ce_loss_with_sae_general: float | None = None
    ce_loss_zero_ablation_general: float | None = None
    ce_loss_increase_general: float | None = None
    ce_recovered_general: float | None = None
    kl_with_sae_general: float | None = None


def hook_of(layer: int) -> str:
    return hook_name("resid_post", layer)


def split_rows(
    store: ActivationStore, config: SaeConfig, ignored_id: int
) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """(train rows, held-out rows, held-out sequence indices); rows of ``ignored_id`` left out."""
    tokens = store.tokens
    heldout_seqs = list(range(0, len(tokens.offsets) - 1, config.sae_heldout_every))
    held = np.zeros(tokens.n_tokens, dtype=bool)
    for s in heldout_seqs:
        held[tokens.offsets[s] : tokens.offsets[s + 1]] = True
    keep = tokens.ids != ignored_id
    return np.flatnonzero(keep & ~held), np.flatnonzero(keep & held), heldout_seqs


def activation_stream(
    store: ActivationStore, model: str, hook: str, rows: np.ndarray, config: SaeConfig
) -> Iterator[torch.Tensor]:
    """Shuffled ``[batch, d_model]`` batches of ``rows``, epoch after epoch (seeded), forever."""
    epoch = 0
    while True:
        for batch in store.iter_batches(model, [hook], rows=rows, batch_size=config.sae_batch_size,
                                        shuffle=True, seed=config.sae_seed + epoch):  # fmt: skip
            if len(batch.rows) == config.sae_batch_size:
                yield batch.acts[hook]
        epoch += 1


def train_sae(
    store: ActivationStore,
    model: str,
    layer: int,
    rows: np.ndarray,
    config: SaeConfig,
    metadata: dict[str, Any],
) -> SAE[Any]:
    """Train one TopK SAE on ``rows`` of ``blocks.{layer}.hook_resid_post`` with sae_lens."""
    from sae_lens import TopKTrainingSAE, TopKTrainingSAEConfig
    from sae_lens.config import LoggingConfig, SAETrainerConfig
    from sae_lens.saes.sae import SAEMetadata
    from sae_lens.training.sae_trainer import SAETrainer

    d_in = store.d_model(model)
    total = (len(rows) * config.sae_epochs // config.sae_batch_size) * config.sae_batch_size
    steps = total // config.sae_batch_size
    sae_cfg = TopKTrainingSAEConfig(
        d_in=d_in, d_sae=config.sae_expansion * d_in, k=config.sae_k, dtype="float32",
        device="cpu", normalize_activations="expected_average_only_in",
        aux_loss_coefficient=config.sae_aux_coefficient,
        metadata=SAEMetadata(hook_name=hook_of(layer), **metadata),
    )  # fmt: skip
    trainer_cfg = SAETrainerConfig(
        total_training_samples=total, train_batch_size_samples=config.sae_batch_size,
        lr=config.sae_lr, lr_end=config.sae_lr / 10, lr_warm_up_steps=max(1, steps // 20),
        lr_decay_steps=steps // 5,
        device="cpu", n_batches_for_norm_estimate=8, dead_feature_window=config.sae_dead_window or max(10, steps // 4),
        feature_sampling_window=max(10, steps // 4), logger=LoggingConfig(log_to_wandb=False),
    )  # fmt: skip
    resample = sorted({max(1, round(f * steps)) for f in config.sae_resample_at})
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.sae_seed + layer)
        sae = TopKTrainingSAE(sae_cfg)
        stream = activation_stream(store, model, hook_of(layer), rows, config)
        trainer = resampling_trainer(SAETrainer)(cfg=trainer_cfg, sae=sae, data_provider=stream)
        trainer.resample_steps = resample
        trained = trainer.fit()
    for step, n in trainer.resampled:
        logger.info("resampled %d dead latents at step %d", n, step)
    logger.info(
        "trained the SAE at %s: %d steps of %d rows", hook_of(layer), steps, config.sae_batch_size
    )
    return trained


RESAMPLE_MARGIN = 1.05
"""A resampled latent's pre-activation on the input it copies, relative to that input's k-th
largest pre-activation: it just enters the top k there (and on inputs like it), no more."""


def resampling_trainer(base: type) -> type:
    """``base`` (sae_lens's ``SAETrainer``) that re-initialises dead latents at
    ``resample_steps`` (see ``SaeConfig.sae_resample_at``); ``resampled`` lists (step, count)."""

    class ResamplingTrainer(base):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.resample_steps: list[int] = []
            self.resampled: list[tuple[int, int]] = []

        def _train_step(self, sae: Any, sae_in: torch.Tensor) -> Any:
            out = super()._train_step(sae, sae_in)
            if self.n_training_steps + 1 in self.resample_steps:
                n = resample_dead(sae, sae_in, self.dead_neurons, self.optimizer)
                self.n_forward_passes_since_fired[self.dead_neurons] = 0
                self.resampled.append((self.n_training_steps + 1, n))
            return out

    return ResamplingTrainer


@torch.no_grad()
def resample_dead(
    sae: Any, x: torch.Tensor, dead: torch.Tensor, optimizer: torch.optim.Optimizer
) -> int:
    """Give each ``dead`` latent of ``sae`` (a TopK SAE) the direction of an input of ``x`` it
    reconstructs badly (drawn ∝ squared error), the live latents' mean decoder norm, a zero bias,
    fresh Adam moments, and an encoder norm at which its pre-activation on that input is
    ``RESAMPLE_MARGIN`` × the input's k-th largest one: it fires there and on inputs like it.
    (With the live latents' encoder norm the new latents won every top-k and the loss blew up
    17-fold; with a fifth of it, as in ReLU-SAE practice, they never entered the top k and died
    again.) Returns how many were resampled."""
    index = torch.nonzero(dead).flatten()
    alive = ~dead
    if len(index) == 0 or not bool(alive.any()):
        return 0
    _, hidden_pre = sae.encode_with_hidden_pre(x)
    error = (x - sae(x)).pow(2).sum(dim=-1)
    pick = torch.multinomial(error / error.sum(), len(index), replacement=True)
    kth = hidden_pre[pick][:, alive].topk(int(sae.cfg.k), dim=-1).values[:, -1].clamp(min=1e-6)
    centred = x[pick] - sae.b_dec
    length = centred.norm(dim=-1).clamp(min=1e-8)
    directions = centred / length[:, None]
    dec_norm = sae.W_dec[alive].norm(dim=-1).mean()
    sae.W_dec[index] = directions * dec_norm
    scale = RESAMPLE_MARGIN * kth / (length * dec_norm)
    sae.W_enc[:, index] = (directions * scale[:, None]).T
    sae.b_enc[index] = 0.0
    for param, rows in ((sae.W_dec, (index, slice(None))), (sae.W_enc, (slice(None), index)),
                        (sae.b_enc, (index,))):  # fmt: skip
        state = optimizer.state.get(param, {})
        for key in ("exp_avg", "exp_avg_sq"):
            if key in state:
                state[key][rows] = 0.0
    return len(index)


def save_sae(sae: SAE[Any], directory: Path) -> Path:
    """sae_lens inference format with fp16 weights (``cfg.json`` keeps dtype float32).

    sae_lens writes the weights before ``cfg.json``, so a directory with ``cfg.json`` holds a
    whole trained SAE: the SAE stage then evaluates it without training again."""
    from safetensors.torch import load_file, save_file

    sae.save_inference_model(directory)
    weights = directory / "sae_weights.safetensors"
    half = {k: v.to(torch.float16).contiguous() for k, v in load_file(weights).items()}
    partial = weights.with_suffix(".partial")
    save_file(half, str(partial))
    partial.replace(weights)  # atomic: a crash leaves the fp32 file, never a torn one
    return directory


def reconstruction_metrics(
    sae: SAE[Any], store: ActivationStore, model: str, hook: str, rows: np.ndarray
) -> dict[str, float]:
    """L0, explained variance and dead share over held-out ``rows`` (streamed, float64 sums)."""
    sq_err = total = 0.0
    sum_x = np.zeros(store.d_model(model))
    sum_sq = l0 = 0.0
    fired = torch.zeros(sae.cfg.d_sae, dtype=torch.bool)
    with torch.no_grad():
        for batch in store.iter_batches(model, [hook], rows=rows, batch_size=4096, shuffle=False):
            x_BD = batch.acts[hook].to(sae.dtype)
            z_BK = sae.encode(x_BD)
            err = (sae.decode(z_BK) - x_BD).double()
            sq_err += float((err**2).sum())
            sum_x += x_BD.double().sum(0).numpy()
            sum_sq += float((x_BD.double() ** 2).sum())
            l0 += float((z_BK > 0).sum())
            fired |= (z_BK > 0).any(0)
            total += len(x_BD)
    variance = sum_sq - float((sum_x**2).sum()) / total
    return {"l0": l0 / total, "explained_variance": 1 - sq_err / variance,
            "dead_fraction": float((~fired).float().mean()), "n_eval_rows": total}  # fmt: skip


def spliced_metrics(
    sae: SAE[Any], hooked: Any, sequences: Sequence[Sequence[int]], hook: str, ignored_id: int
) -> dict[str, float]:
    """CE loss clean / with the SAE spliced in / zero-ablated, and KL, with sae_lens's evals."""
    from sae_lens.evals import get_recons_loss
    from sae_lens.training.activation_scaler import ActivationScaler

    sums: dict[str, float] = {}
    n = 0
    for ids in sequences:
        batch_tokens = torch.tensor([list(ids)], device=hooked.cfg.device)
        with torch.no_grad():
            metrics = get_recons_loss(sae, hooked, ActivationScaler(), batch_tokens, compute_kl=True,
                                      compute_ce_loss=True, ignore_tokens=[ignored_id], hook_name=hook)  # fmt: skip
        count = len(ids) - 1
        for key, value in metrics.items():
            sums[key] = sums.get(key, 0.0) + float(value.float().mean()) * count
        n += count
    mean = {k: v / n for k, v in sums.items()}
    clean, spliced, ablated = (
        mean["ce_loss_without_sae"],
        mean["ce_loss_with_sae"],
        mean["ce_loss_with_ablation"],
    )
    return {
        "ce_loss_clean": clean, "ce_loss_with_sae": spliced, "ce_loss_zero_ablation": ablated,
        "ce_loss_increase": spliced - clean, "ce_recovered": (ablated - spliced) / (ablated - clean),
        "kl_with_sae": mean["kl_div_with_sae"],
    }  # fmt: skip


def metrics_record(
    hook: str,
    sae: SAE[Any],
    recon: dict[str, float],
    spliced: dict[str, float],
    n_train: int,
    general: dict[str, float] | None = None,
) -> SaeMetrics:
    """``spliced``: on held-out traces; ``general``: the same on held-out general text."""
    extra = {f"{k}_general": v for k, v in (general or {}).items()}
    return SaeMetrics(hook=hook, d_sae=int(sae.cfg.d_sae), n_train_rows=n_train,
                      n_eval_rows=int(recon.pop("n_eval_rows")), **recon, **spliced, **extra)  # fmt: skip


def config_dict(config: SaeConfig) -> dict[str, Any]:
    return dataclasses.asdict(config)
