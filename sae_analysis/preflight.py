"""Preflight: is this SAE the right one for this direction, model and hook?

Before any analysis the SAE must match the direction's space: its ``d_in`` equals the store model's
``d_model`` at the hook, its recorded hook is the direction's hook, and, the real test, it
reconstructs a sample of the store's activations well (mean cosine between activation and
reconstruction, and explained variance 1 − Σ|x − x̂|² / Σ|x − x̄|²). An SAE paired with the wrong
model or layer fails the last check even when names and shapes agree. Below ``warn_below`` the
result carries a warning; below ``refuse_below`` the analysis stops unless forced.
"""

from __future__ import annotations

import logging
import re
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from activation_store.core.errors import InputError, StoreError
from activation_store.direction import Direction
from activation_store.reader import ActivationStore
from sae_analysis.config import DecomposeConfig
from sae_analysis.loading import LoadedSae

log = logging.getLogger(__name__)


class PoorFitError(InputError):
    """The SAE reconstructs the store's activations below ``refuse_below`` (a one-line reason)."""


@dataclass(frozen=True, kw_only=True)
class PreflightReport:
    """Figures of the preflight check, saved with the result."""

    model: str
    """Store model key whose activations were used."""
    model_id: str
    """That model's id in the store (spec name or path)."""
    hook: str
    d_in: int
    sae_hook: str | None
    sae_model: str | None
    n_rows: int
    cosine: float
    """Mean cosine(x, SAE(x)) over the sample."""
    explained_variance: float
    """1 − Σ|x − SAE(x)|² / Σ|x − mean x|² over the sample."""
    mean_l0: float
    """Mean number of active features per token."""
    passed: bool
    """Both figures ≥ refuse_below and the hook matched (else the run was forced)."""
    forced: bool
    warnings: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "warnings": list(self.warnings)}


def valid_rows(store: ActivationStore, model: str, skip_first_tokens: int) -> NDArray[np.int64]:
    """Committed rows of ``model`` at positions ≥ ``skip_first_tokens``; refuses an empty store."""
    if model not in store.models:
        raise StoreError(
            f"model {model!r} is not in {str(store.path)!r}; models present: "
            f"{', '.join(store.models) or 'none (run `backtrack cache` first)'}"
        )
    committed = store.committed_rows(model)
    rows = np.flatnonzero(store.tokens.positions[:committed] >= skip_first_tokens)
    if rows.size == 0:
        raise StoreError(
            f"store {str(store.path)!r} has no cached tokens of model {model!r} to analyse "
            f"({committed} committed rows); run `backtrack cache` first"
        )
    return rows.astype(np.int64)


@torch.no_grad()
def preflight(
    sae: LoadedSae,
    direction: Direction,
    store: ActivationStore,
    model: str,
    config: DecomposeConfig,
) -> PreflightReport:
    """Check shapes, hook and model names, then the SAE's reconstruction on the store's tokens."""
    notes: list[str] = []
    hook = direction.hook
    rows = valid_rows(store, model, config.skip_first_tokens)
    _check_space(sae, direction, store, model)
    hook_ok = _check_hook(sae, hook, config.force, notes)
    model_id = str(store.model_attrs(model).get("model_id", model))
    _check_model_name(sae, model, model_id, notes)
    sample = _sample(rows, config.preflight_rows, config.seed)
    cos, ev, l0 = reconstruction_quality(sae, store, model, hook, sample)
    n = len(sample)
    passed = hook_ok and min(cos, ev) >= config.refuse_below
    figures = f"cosine {cos:.3f}, explained variance {ev:.3f} on {n} tokens"
    if min(cos, ev) < config.refuse_below and not config.force:
        raise PoorFitError(
            f"SAE {sae.sae_id} reconstructs {model!r} at {hook} poorly ({figures}; refused below "
            f"{config.refuse_below}): it was probably trained on another model or layer; pass "
            "--force to analyse anyway"
        )
    if min(cos, ev) < config.warn_below:
        how = "poorly (forced)" if min(cos, ev) < config.refuse_below else "only moderately"
        notes.append(f"SAE {sae.sae_id} reconstructs {model!r} at {hook} {how} ({figures})")
    for note in notes:
        log.warning("%s", note)
    log.info("preflight of SAE %s on %r at %s: %s", sae.sae_id, model, hook, figures)
    return PreflightReport(
        model=model,
        model_id=model_id,
        hook=hook,
        d_in=sae.d_in,
        sae_hook=sae.hook_name,
        sae_model=sae.model_name,
        n_rows=n,
        cosine=cos,
        explained_variance=ev,
        mean_l0=l0,
        passed=passed,
        forced=config.force and not passed,
        warnings=tuple(notes),
    )


def _check_space(sae: LoadedSae, direction: Direction, store: ActivationStore, model: str) -> None:
    """The direction's hook is cached for ``model``, and SAE, model and direction share a width."""
    if direction.hook not in store.hooks(model):
        raise StoreError(
            f"hook {direction.hook!r} of direction {direction.name!r} is not cached for model "
            f"{model!r}; cached: {', '.join(store.hooks(model))}"
        )
    d_model = store.d_model(model)
    if not sae.d_in == d_model == direction.d_model:
        raise InputError(
            f"SAE {sae.sae_id} has d_in {sae.d_in} but model {model!r} has d_model {d_model} and "
            f"direction {direction.name!r} has {direction.d_model}; use an SAE for this model"
        )


def _check_hook(sae: LoadedSae, hook: str, force: bool, notes: list[str]) -> bool:
    if sae.hook_name is None:
        notes.append(
            f"SAE {sae.sae_id} does not record its hook; relying on the reconstruction check"
        )
        return True
    if sae.hook_name == hook:
        return True
    message = f"SAE {sae.sae_id} was trained on {sae.hook_name} but the direction lives at {hook}"
    if not force:
        raise InputError(f"{message}; use an SAE for {hook} (or pass --force)")
    notes.append(message)
    return False


def _check_model_name(sae: LoadedSae, model: str, model_id: str, notes: list[str]) -> None:
    if sae.model_name is None:
        return
    if _name_key(sae.model_name) != _name_key(model_id):
        notes.append(
            f"SAE {sae.sae_id} was trained on {sae.model_name!r} but store model {model!r} is "
            f"{model_id!r}; check the pairing (the reconstruction check is the real test)"
        )


def _name_key(name: str) -> str:
    """``meta-llama/Llama-3.1-8B`` and ``/models/llama-3.1-8b/`` both → ``llama318b``."""
    last = name.rstrip("/\\").replace("\\", "/").rsplit("/", 1)[-1]
    return re.sub(r"[^a-z0-9]", "", last.lower())


def _sample(rows: NDArray[np.int64], n: int, seed: int) -> NDArray[np.int64]:
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(rows, size=min(n, rows.size), replace=False))


@torch.no_grad()
def reconstruction_quality(
    sae: LoadedSae,
    store: ActivationStore,
    model: str,
    hook: str,
    rows: NDArray[np.int64],
    *,
    batch_size: int = 256,
) -> tuple[float, float, float]:
    """(mean cosine, explained variance, mean L0) of the SAE's reconstruction of ``rows``."""
    x_all = torch.from_numpy(store.read(model, hook, rows))
    device = sae.sae.W_dec.device
    cos_sum = l0_sum = err_sq = 0.0
    for lo in range(0, len(rows), batch_size):
        x = x_all[lo : lo + batch_size].to(device)
        feats = sae.sae.encode(x)
        x_hat = sae.sae.decode(feats).float()
        cos_sum += float(torch.nn.functional.cosine_similarity(x, x_hat, dim=-1).sum())
        err_sq += float(((x - x_hat) ** 2).sum())
        l0_sum += float((feats != 0).sum())
    total = float(((x_all - x_all.mean(dim=0)) ** 2).sum())
    n = max(len(rows), 1)
    ev = 1.0 - err_sq / total if total > 0 else 0.0
    return cos_sum / n, ev, l0_sum / n
