"""``backtrack probe``: probes for every model × layer × offset, streamed from a labelled store.

Memory: the run reads only the selected rows (all positives of all offsets plus at most
``max_negatives`` sampled reference tokens; the union is ``n_rows``). Per pass it holds
``n_rows × d_model`` values of each hook of the pass in the store's dtype, and the hooks of a model
are packed into as few passes as ``max_memory_gb`` allows (one pass when they fit); one layer at a
time is then converted to float32 and fitted. Memory therefore depends on the number of events and
``max_negatives``, never on the store's size.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from activation_store.core.errors import InputError
from activation_store.preflight import check_model_available
from activation_store.reader import ActivationStore
from probes.config import ProbeConfig
from probes.fitting import Fitter
from probes.layout import store_layout
from probes.logistic import get_fitter
from probes.probe_data import ProbeData, build_probe_data
from probes.probe_eval import Bootstrap, ProbeResult, evaluate_hook, make_bootstrap
from probes.probe_fit import FamilyScores, fit_family
from probes.selection import check_complete, resolve_hooks, resolve_models
from probes.stream import gather_rows

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProbeReport:
    """Everything a probe run produced (written by :func:`probes.probe_report.write_report`)."""

    results: list[ProbeResult]
    config: ProbeConfig
    store: str
    counts: dict[str, Any]
    """Events, reference tokens, rows read, split groups, positives/negatives per offset and split."""
    reference: str
    passes: dict[str, int]
    """Passes over the store per model."""
    seconds: float
    notes: list[str] = field(default_factory=list)


def run_probes(store_path: str | Path, config: ProbeConfig) -> ProbeReport:
    """Fit and evaluate every probe of ``config`` on the store at ``store_path``."""
    start = time.perf_counter()
    results: list[ProbeResult] = []
    passes: dict[str, int] = {}
    fitter = get_fitter(config.backend, config.device)
    with ActivationStore(store_path) as store:
        models = resolve_models(store, config.models)
        hooks = {m: resolve_hooks(store, m, config.layers) for m in models}
        for m in models:
            check_complete(store, m, hooks[m])
            model_id = str(store.model_attrs(m).get("model_id", ""))
            if config.token_baseline and model_id:  # its embeddings load after the probe data
                check_model_available(model_id, f"model_id of store model {m!r}")
        layout = store_layout(store, models[0]) if _needs_layout(config) else None
        data = build_probe_data(store, config, layout)
        log.info("probing %d rows (%s)", data.n_rows, data.counts["groups"])
        boot = make_bootstrap(data, config.n_bootstrap, config.seed)
        structure = None
        if config.structure_baseline and layout is not None:
            X = layout.features(data.rows)
            structure = fit_family(
                X, data, config.Cs, fitter, dom=False, n_shuffles=0, seed=config.seed
            )
        for m in models:
            token = _token_scores(store, m, data, config, fitter)
            chunks = list(_hook_chunks(store, m, hooks[m], data.n_rows, config.max_memory_gb))
            passes[m] = len(chunks)
            for chunk in chunks:
                results += _probe_chunk(
                    store, m, chunk, data, config, fitter, (token, structure), boot
                )
    return ProbeReport(
        results=results,
        config=config,
        store=str(store_path),
        counts=data.counts,
        reference=data.reference.description,
        passes=passes,
        seconds=time.perf_counter() - start,
    )


def _probe_chunk(
    store: ActivationStore,
    model: str,
    hooks: list[str],
    data: ProbeData,
    config: ProbeConfig,
    fitter: Fitter,
    baselines: tuple[FamilyScores | None, FamilyScores | None],
    boot: Bootstrap | None,
) -> list[ProbeResult]:
    token, structure = baselines
    acts = gather_rows(store, model, hooks, data.rows, batch_size=config.batch_size)
    out: list[ProbeResult] = []
    for hook in hooks:
        scores = fit_family(
            acts.pop(hook),
            data,
            config.Cs,
            fitter,
            n_shuffles=config.n_shuffles,
            seed=config.seed,
        )
        out += evaluate_hook(
            model,
            hook,
            scores,
            token,
            data,
            k=config.k,
            threshold=config.threshold,
            boot=boot,
            structure=structure,
            negatives=config.negatives,
        )
        best = max(out[-len(data.offsets) :], key=lambda r: r.auroc)
        log.info("%s %s: best AUROC %.3f at offset %d", model, hook, best.auroc, best.offset)
    return out


def _needs_layout(config: ProbeConfig) -> bool:
    return config.negatives != "uniform" or config.structure_baseline


def _token_scores(
    store: ActivationStore, model: str, data: ProbeData, config: ProbeConfig, fitter: Fitter
) -> FamilyScores | None:
    """The token-identity baseline: the same probe on the current token's embedding row."""
    if not config.token_baseline:
        return None
    from probes.token_space import load_token_space

    model_id = str(store.model_attrs(model).get("model_id", ""))
    space = load_token_space(model_id, config.device, config.dtype)
    space.check_width(store.d_model(model), model)
    if data.token_ids.max() >= space.W_E.shape[0]:
        raise InputError(
            f"store token ids reach {int(data.token_ids.max())} but {model_id!r} has "
            f"{space.W_E.shape[0]} embedding rows; pass --no-token-baseline or the right model"
        )
    X = space.W_E[data.token_ids].numpy()
    return fit_family(X, data, config.Cs, fitter, dom=False, n_shuffles=0, seed=config.seed)


def _hook_chunks(
    store: ActivationStore, model: str, hooks: list[str], n_rows: int, max_gb: float
) -> Iterator[list[str]]:
    itemsize = np.dtype(str(store.model_attrs(model).get("store_dtype", "float32"))).itemsize
    per_hook = n_rows * store.d_model(model) * itemsize
    per_pass = max(1, math.floor(max_gb * 1e9 / max(per_hook, 1)))
    if per_pass < len(hooks):
        log.info(
            "%s: %d hooks × %.0f MB exceed max_memory_gb=%g: %d passes",
            model,
            len(hooks),
            per_hook / 1e6,
            max_gb,
            math.ceil(len(hooks) / per_pass),
        )
    for i in range(0, len(hooks), per_pass):
        yield hooks[i : i + per_pass]
