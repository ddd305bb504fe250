"""Decompose one direction into an SAE's features: preflight, then every method, one result.

>>> from activation_store import ActivationStore
>>> from activation_store.direction import load_direction
>>> from sae_analysis import DecomposeConfig, decompose, load_sae
>>> sae = load_sae("llama_scope_lxr_8x:l10r_8x", device="cuda")
>>> with ActivationStore("store.h5") as store:
...     result = decompose(load_direction("dirs/base_L10_dom"), sae, store, DecomposeConfig())
>>> result.sparse.explained_variance[-1], result.unexplained_share
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

from activation_store.core.errors import InputError
from activation_store.direction import Direction
from activation_store.reader import ActivationStore
from sae_analysis.config import DecomposeConfig
from sae_analysis.loading import LoadedSae
from sae_analysis.methods.contexts import Decode, decoded
from sae_analysis.methods.cosine import CosineResult, decoder_cosines
from sae_analysis.methods.data_view import DataView, data_view
from sae_analysis.methods.encoder import EncoderView, encoder_view
from sae_analysis.methods.sparse import SparseReconstruction, sparse_reconstruction
from sae_analysis.preflight import preflight, reconstruction_quality, valid_rows
from sae_analysis.result import Decomposition, FeatureReport
from sae_analysis.subset import FeatureEncoder

log = logging.getLogger(__name__)


def decompose(
    direction: Direction,
    sae: LoadedSae,
    store: ActivationStore,
    config: DecomposeConfig,
    *,
    decode: Decode | None = None,
) -> Decomposition:
    """Preflight ``sae`` against ``store``, then decompose ``direction`` by every method.

    ``decode`` turns token ids into text for the top-activating contexts (see
    :func:`sae_analysis.tokenizer.store_decoder`); without it contexts carry ids only.
    """
    model = _check_inputs(direction, sae, store, config)
    seconds: dict[str, float] = {}
    with _timed(seconds, "preflight"):
        pre = preflight(sae, direction, store, model, config)
    with _timed(seconds, "cosine"):
        cos = decoder_cosines(
            sae.sae.W_dec,
            direction.vector,
            top_k=config.top_k,
            n_null=config.n_null,
            seed=config.seed,
        )
    with _timed(seconds, "sparse"):
        sparse = sparse_reconstruction(sae.sae.W_dec, direction.vector, config.k_max)
    encoder = FeatureEncoder(sae.sae, reported_features(sparse, cos))
    with _timed(seconds, "data_view"):
        data = _data_view(store, model, direction.hook, encoder, config, config.n_contexts)
    if decode is not None:
        data = replace(data, contexts={i: decoded(cs, decode) for i, cs in data.contexts.items()})
    compare, compare_rec, notes = None, None, [*sae.warnings, *pre.warnings]
    if config.compare_model is not None:
        with _timed(seconds, "compare"):
            compare, compare_rec = _compare(sae, store, direction.hook, encoder, config, notes)
    scale_source = "direction" if direction.mean_resid_norm else "store"
    with _timed(seconds, "encoder"):
        enc = encoder_view(
            sae.sae,
            direction.vector,
            mean_activation=data.mean_activation,
            scale=float(direction.mean_resid_norm or data.mean_norm),
            alphas=config.alphas,
            top_k=config.top_k,
        )
    return Decomposition(
        direction=direction.metadata(),
        sae=sae.describe(),
        config=config,
        preflight=pre,
        cosine=cos,
        sparse=sparse,
        encoder=enc,
        data=data,
        features=feature_reports(direction, cos, sparse, enc, data, compare),
        scale_source=scale_source,
        compare=compare,
        compare_reconstruction=compare_rec,
        warnings=tuple(notes),
        seconds=seconds,
    )


def reported_features(sparse: SparseReconstruction, cos: CosineResult) -> list[int]:
    """The OMP set in OMP order, then the top positive and negative cosines not in it whose
    |cosine| beats the chance level (the largest |cosine| of any random direction)."""
    chance = max(cos.null_max_abs, default=0.0)
    out = list(sparse.indices)
    for f in (*cos.top_positive, *cos.top_negative):
        if f.index not in out and abs(f.score) > chance:
            out.append(f.index)
    return out


def feature_reports(
    direction: Direction,
    cos: CosineResult,
    sparse: SparseReconstruction,
    enc: EncoderView,
    data: DataView,
    compare: DataView | None,
) -> tuple[FeatureReport, ...]:
    """One :class:`FeatureReport` per reported feature, merging every method's view of it."""
    rank = {j: k for k, j in enumerate(sparse.indices)}
    pos = {f.index for f in cos.top_positive}
    neg = {f.index for f in cos.top_negative}
    reports = []
    for index in reported_features(sparse, cos):
        k = rank.get(index)
        coef = sparse.coefficients[k] if k is not None else None
        norm = float(cos.decoder_norms[index])
        reasons = [r for r, s in (("omp", rank), ("cos+", pos), ("cos-", neg)) if index in s]
        reports.append(
            FeatureReport(
                index=index,
                reasons=tuple(reasons),
                cosine=float(cos.cosines[index]),
                decoder_norm=norm,
                omp_rank=k + 1 if k is not None else None,
                omp_coefficient=coef,
                contribution=coef * norm / direction.norm if coef is not None else None,
                encoder_activation=float(enc.acts_on_direction[index]),
                encoder_deltas=tuple(float(d) for d in enc.deltas[:, index]),
                stats=data.stats(index),
                compare_stats=compare.stats(index) if compare is not None else None,
            )
        )
    return tuple(reports)


def _check_inputs(
    direction: Direction, sae: LoadedSae, store: ActivationStore, config: DecomposeConfig
) -> str:
    model = config.model or direction.model
    if model not in store.models:
        raise InputError(
            f"model {model!r} (of direction {direction.name!r}) is not in {str(store.path)!r}; "
            f"models present: {', '.join(store.models) or 'none'}; pass --model KEY"
        )
    direction.unit  # noqa: B018 — refuses a zero-norm direction with a one-line error
    for name in ("k_max", "top_k"):
        if getattr(config, name) > sae.d_sae:
            raise InputError(
                f"{name}={getattr(config, name)} exceeds the SAE's d_sae={sae.d_sae}; lower --{name.replace('_', '-')}"
            )
    if config.compare_model is not None and config.compare_model not in store.models:
        raise InputError(
            f"compare_model {config.compare_model!r} is not in {str(store.path)!r}; models present: "
            f"{', '.join(store.models)}"
        )
    return model


def _data_view(
    store: ActivationStore,
    model: str,
    hook: str,
    encoder: FeatureEncoder,
    config: DecomposeConfig,
    n_contexts: int,
) -> DataView:
    return data_view(
        store,
        model,
        hook,
        encoder,
        event_label=config.event_label,
        offsets=config.offset_tuple,
        within=config.within,
        skip_first_tokens=config.skip_first_tokens,
        n_contexts=n_contexts,
        context_before=config.context_before,
        context_after=config.context_after,
        batch_size=config.batch_size,
    )


def _compare(
    sae: LoadedSae,
    store: ActivationStore,
    hook: str,
    encoder: FeatureEncoder,
    config: DecomposeConfig,
    notes: list[str],
) -> tuple[DataView, dict[str, float]]:
    import numpy as np

    model = str(config.compare_model)
    rows = valid_rows(store, model, config.skip_first_tokens)
    rng = np.random.default_rng(config.seed)
    sample = np.sort(rng.choice(rows, size=min(config.preflight_rows, rows.size), replace=False))
    cos, ev, l0 = reconstruction_quality(sae, store, model, hook, sample)
    if min(cos, ev) < config.warn_below:
        notes.append(
            f"SAE {sae.sae_id} reconstructs comparison model {model!r} poorly (cosine {cos:.3f}, "
            f"explained variance {ev:.3f}): its features may not mean the same there"
        )
        log.warning("%s", notes[-1])
    view = _data_view(store, model, hook, encoder, config, n_contexts=0)
    return view, {
        "cosine": cos,
        "explained_variance": ev,
        "mean_l0": l0,
        "n_rows": float(len(sample)),
    }


@contextmanager
def _timed(seconds: dict[str, float], stage: str) -> Iterator[None]:
    t0 = time.perf_counter()
    yield
    seconds[stage] = round(time.perf_counter() - t0, 3)
    log.info("%s took %.2f s", stage, seconds[stage])
