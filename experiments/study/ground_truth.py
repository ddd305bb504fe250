"""Ground-truth criteria of a study whose reasoner carries a recorded planted mechanism.

When :func:`activation_store.models.planted.planted_record` finds a record for the study's
reasoner, the findings gain ``"ground_truth"``: each criterion of issue #13 with the figure
measured from the ordinary pipeline outputs (directions, steering sweep, ablation, probes, SAE
decomposition), its threshold and whether it passed. Nothing here feeds back into the pipeline:
the record (the planted direction(s) ``u``) is read only to grade what the pipeline found.

Criteria (``single``; ``joint`` adds J, ``null`` replaces them by N):

1. ``|cos(base difference-of-means direction, u)| ≥ 0.5`` at the study's window (mean over
   seeds; also reported for the base offset-0 direction);
2. steering the reasoner with the base direction raises the metric monotonically in α (means
   over seeds and prompts), above the 95th percentile of the norm-matched random directions
   (every seed's) at every positive α, and −α lowers it below unsteered;
3. the base model's change at the headline α has its 95 % CI within ±0.05;
4. ablating the base direction alone cuts the reasoner's metric by ≥ 80 % vs unablated, and
   random 1-dimensional subspaces cut it by ≤ 20 %;
5. the SAE decomposition of the base direction ranks the planted latent first (by cosine);
6. the reasoner's probes over the window reach test AUROC ≥ 0.9 and the token-identity baseline
   stays ≤ 0.7 (window means).

J. ablating the first k directions cuts more than the best single one (CI excludes 0), Q4 "yes".
N. Q1 and Q4 are not "yes" (criterion 1's cosine is reported too).
"""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from activation_store.events import parse_offsets
from sae_analysis.config import REFUSED_FILE

if TYPE_CHECKING:
    from experiments.study.answers import Answer
    from experiments.study.config import StudyConfig

COS_MIN = 0.5
BASE_CI = 0.05
ABLATE_CUT_MIN = 0.8
RANDOM_CUT_MAX = 0.2
PROBE_MIN = 0.9
TOKEN_MAX = 0.7
RANDOM_PERCENTILE = 95.0


def _criterion(
    key: str, text: str, figure: Any, threshold: str, passed: bool | None, **extra: Any
) -> dict[str, Any]:
    return {
        "key": key,
        "criterion": text,
        "figure": figure,
        "threshold": threshold,
        "passed": passed,
        **extra,
    }


def _unit(v: np.ndarray) -> np.ndarray:
    return v / (np.linalg.norm(v) or 1.0)


def planted_directions(record: dict[str, Any]) -> dict[str, np.ndarray]:
    """A planted record's directions by name, as unit vectors: the ``u`` the criteria grade
    against."""
    return {d["name"]: _unit(np.asarray(d["u"], dtype=np.float64)) for d in record["directions"]}


def _direction(path: Path) -> np.ndarray | None:
    """A saved direction's vector; in committed results only the steering runs keep copies."""
    from activation_store.direction import load_direction

    seed_dir = path.parent.parent
    seed = seed_dir.name.removeprefix("seed")
    for candidate in (
        path,
        seed_dir / f"ablation-s{seed}" / "directions" / path.name,
        seed_dir / f"sweep-s{seed}" / "directions" / path.name,
    ):
        if candidate.is_file():
            return load_direction(candidate).vector.float().numpy()
    return None


def cosine_criterion(config: StudyConfig, study: Path, us: dict[str, np.ndarray]) -> dict[str, Any]:
    from experiments.study.stages import direction_names

    per_seed: list[dict[str, Any]] = []
    for seed in config.seeds:
        d = study / f"seed{seed}" / "directions"
        names = direction_names(config, seed)
        dom = _direction(d / f"{names['base_dom']}.safetensors")
        off0 = _direction(d / f"{names['base_dom'].replace('_dom', '_offset0')}.safetensors")
        row: dict[str, Any] = {"seed": seed}
        for label, u in us.items():
            row[label] = float(_unit(dom) @ u) if dom is not None else math.nan
            row[f"{label}@offset0"] = float(_unit(off0) @ u) if off0 is not None else math.nan
        m1 = _offset_minus1(study / f"seed{seed}" / "store.h5", config)
        for label, u in us.items():
            row[f"{label}@offset-1"] = float(_unit(m1) @ u) if m1 is not None else math.nan
        per_seed.append(row)
    figure = {label: float(np.nanmean([abs(r[label]) for r in per_seed])) for label in us}
    figure_m1 = {
        label: float(np.nanmean([abs(r[f"{label}@offset-1"]) for r in per_seed])) for label in us
    }
    figure_off0 = {
        label: float(np.nanmean([abs(r[f"{label}@offset0"]) for r in per_seed])) for label in us
    }
    passed = all(v >= COS_MIN for v in figure.values()) if figure else None
    return _criterion(
        "c1",
        f"|cos(base difference-of-means direction at the window {config.window}, u)| (mean over seeds)",
        figure,
        f"≥ {COS_MIN} for every planted direction",
        passed,
        at_offset0=figure_off0,
        at_offset_minus1=figure_m1,
        per_seed=per_seed,
        random_expectation=float(math.sqrt(2 / math.pi / len(next(iter(us.values())))))
        if us
        else None,
    )


def _offset_minus1(store_path: Path, config: StudyConfig) -> np.ndarray | None:
    """The base difference-of-means direction at offset −1 (the token before each backtracking
    sentence, where a boundary reader reads), derived from the study's store by the same library
    call as ``backtrack directions``; None when the store is gone (committed results)."""
    if not store_path.is_file():
        return None
    import warnings

    from activation_store.reader import ActivationStore
    from probes.config import DirectionConfig
    from probes.diff_of_means import derive_directions

    cfg = DirectionConfig(
        models=("base",),
        hooks=(config.steer_hook,),
        offsets=(-1,),
        n_random=0,
        token_baselines=False,
        logit_lens=False,
        min_events=1,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dirs = derive_directions(ActivationStore(store_path), cfg)
    dom = [d for d in dirs if d.name.endswith("_dom")]
    return dom[0].vector.float().numpy() if dom else None


def _cells(path: Path, metric: str) -> dict[str, dict[str, float]]:
    """cell → prompt → ``metric`` of one steering or ablation run (as the findings read it)."""
    from experiments.steering.runs.plan import Condition
    from experiments.steering.runs.rundir import RunDir
    from experiments.steering.runs.summary import per_prompt

    run = RunDir(path)
    conditions = [Condition.from_json(c) for c in run.read_json("plan.json")["conditions"]]
    values = per_prompt(run.generations(), {c.id: c.cell for c in conditions})
    return {k: dict(v) for k, v in values.get(metric, {}).items()}


def _mean(values: dict[str, float] | None) -> float:
    vals = list((values or {}).values())
    return float(np.mean(vals)) if vals else math.nan


def steering_criterion(config: StudyConfig, study: Path) -> dict[str, Any]:
    from experiments.steering.runs.plan import cell_id
    from experiments.study.stages import sweep_direction_names

    alphas = sorted(config.alphas)
    base_curve: dict[float, list[float]] = {a: [] for a in alphas}
    random_means: dict[float, list[float]] = {a: [] for a in alphas if a > 0}
    for seed in config.seeds:
        v = _cells(study / f"seed{seed}" / f"sweep-s{seed}", config.metric)
        names = sweep_direction_names(config, seed)
        for a in alphas:
            cell = (
                cell_id("reasoner", "none", "unsteered")
                if a == 0
                else cell_id("reasoner", "add", names["base_dom"], a)
            )
            base_curve[a].append(_mean(v.get(cell)))
            if a > 0:
                for k, n in names.items():
                    if k.startswith("random"):
                        random_means[a].append(_mean(v.get(cell_id("reasoner", "add", n, a))))
    curve = {a: float(np.nanmean(base_curve[a])) for a in alphas}
    above = {
        a: {
            "base": curve[a],
            "random_p95": float(np.nanpercentile(random_means[a], RANDOM_PERCENTILE)),
            "n_random": len(random_means[a]),
        }
        for a in random_means
    }
    parts = steering_grade(curve, above)
    return _criterion(
        "c2",
        "steering the reasoner with the base direction: monotone in α, above the 95th percentile "
        "of random directions at every positive α, and −α lowers it",
        {
            "curve": {f"{a:g}": curve[a] for a in alphas},
            "vs_random": {f"{a:g}": x for a, x in above.items()},
        },
        "strictly increasing; base > random p95 at each α > 0 (≥ 10 random directions); "
        "mean at −α < unsteered",
        **parts,
        note=(
            "no negative α in alphas, so '−α lowers it' is not measured: add one (e.g. -0.2)"
            if parts["negative_lowers"] is None
            else None
        ),
    )


def steering_grade(
    curve: dict[float, float], above: dict[float, dict[str, float]]
) -> dict[str, bool | None]:
    """Criterion 2's parts and verdict (``passed``) from the base direction's curve (α → mean
    metric, α = 0 unsteered) and, per α > 0, its mean against the random directions' 95th
    percentile. Without a negative α "−α lowers it" is not measured (None), and the criterion
    passes only if that part does: it is then None, unless another part fails."""
    alphas = sorted(curve)
    monotone = all(curve[x] < curve[y] for x, y in itertools.pairwise(alphas))
    beats = all(x["base"] > x["random_p95"] for x in above.values())
    enough = all(x["n_random"] >= 10 for x in above.values())
    negative = [a for a in alphas if a < 0]
    lowers = all(curve[a] < curve[0.0] for a in negative) if negative else None
    rest = monotone and beats and enough
    return {
        "passed": (rest and lowers) if lowers is not None else (None if rest else False),
        "monotone": monotone,
        "above_random": beats,
        "negative_lowers": lowers,
        "enough_random": enough,
    }


def base_criterion(q2: Answer) -> dict[str, Any]:
    # per generation, as the criterion says: the free-generation effect (the decision-point one,
    # in log-odds, is reported by Q2 beside it)
    e = next(x for x in q2.effects if x.label == "base model: base direction − unsteered")
    return _criterion(
        "c3",
        "steering the base model with the base direction at the headline α leaves its metric "
        "unchanged (base − unsteered, 95 % CI)",
        {"diff": e.diff, "lo": e.lo, "hi": e.hi},
        f"CI within ±{BASE_CI}",
        bool(e.lo >= -BASE_CI and e.hi <= BASE_CI),
    )


ABLATION_KEYS = {"zero": "c4", "mean": "c4m"}
"""The ablation criterion's key per ablation mode: zero-ablation (project out through the origin)
is the issue's criterion 4; mean-ablation (replace the projection by its mean) is graded beside it
with the same thresholds, since the two can disagree on the same mechanism."""


def ablation_criterion(config: StudyConfig, study: Path, mode: str = "zero") -> dict[str, Any]:
    from experiments.steering.runs.plan import ABLATIONS, cell_id
    from experiments.study.stages import ablation_names

    operation = ABLATIONS[mode]  # type: ignore[index]
    first = ablation_names(config)[0]
    none_m, abl_m, rnd_m = [], [], []
    for seed in config.seeds:
        v = _cells(study / f"seed{seed}" / f"ablation-s{seed}", config.metric)
        none_m.append(_mean(v.get(cell_id("reasoner", "none", "unsteered"))))
        abl_m.append(_mean(v.get(cell_id("reasoner", operation, first))))
        random_prefix = f"reasoner|{operation}|random1#"
        rnd_cells = [_mean(x) for c, x in v.items() if c.startswith(random_prefix)]
        rnd_m.append(float(np.mean(rnd_cells)) if rnd_cells else math.nan)
    none, abl, rnd = (float(np.nanmean(x)) for x in (none_m, abl_m, rnd_m))
    cut = 1 - abl / none if none > 0 else math.nan
    rcut = 1 - rnd / none if none > 0 else math.nan
    passed = (
        None
        if math.isnan(cut) or math.isnan(rcut)
        else bool(cut >= ABLATE_CUT_MIN and rcut <= RANDOM_CUT_MAX)
    )
    how = "zero-ablating (projecting out)" if mode == "zero" else "mean-ablating"
    return _criterion(
        ABLATION_KEYS[mode],
        f"{how} {first} alone at block {config.steer_layer} cuts the reasoner's metric vs "
        f"unablated; {mode}-ablating random 1-dimensional subspaces does not",
        {"unablated": none, "ablated": abl, "cut": cut, "random_ablated": rnd, "random_cut": rcut},
        f"cut ≥ {ABLATE_CUT_MIN:.0%}; random cut ≤ {RANDOM_CUT_MAX:.0%}",
        passed,
        note=_ablation_note(none, rnd),
    )


def _ablation_note(unablated: float, random_ablated: float) -> str | None:
    """Why the cut cannot be measured, if it cannot."""
    if math.isnan(random_ablated):
        return "no random 1-subspace cells: add 1 to ablation_ks"
    if not unablated > 0:
        return "the unablated reasoner never backtracked here: there is nothing to cut"
    return None


def sae_criterion(config: StudyConfig, study: Path, latents: dict[str, int]) -> dict[str, Any]:
    ranks: list[dict[str, Any]] = []
    for seed in config.seeds:
        path = study / f"seed{seed}" / "sae" / "decomposition.json"
        refused = path.with_name(REFUSED_FILE)
        if refused.is_file():
            reason = json.loads(refused.read_text())["refused"]
            ranks.append({"seed": seed, "top_latent": None, "not_analysed": reason})
            continue
        if not path.is_file():
            continue
        d = json.loads(path.read_text())
        by_cos = [f["index"] for f in d["cosine"]["top_positive"]]
        omp = list(d["sparse"]["indices"])
        row: dict[str, Any] = {"seed": seed, "top_latent": by_cos[0] if by_cos else None}
        for label, lat in latents.items():
            row[label] = by_cos.index(lat) + 1 if lat in by_cos else None
            row[f"{label}_omp_rank"] = omp.index(lat) + 1 if lat in omp else None
        ranks.append(row)
    analysed = [r for r in ranks if "not_analysed" not in r]
    passed = bool(analysed) and all(r[label] == 1 for r in analysed for label in latents)
    return _criterion(
        "c5",
        "the SAE decomposition of the base direction ranks the planted latent first (by cosine)",
        ranks,
        "rank 1 in every seed",
        passed if analysed else None,
        note=(
            f"not analysed in {len(ranks) - len(analysed)} seed(s): the SAE preflight refused "
            "the store"
        )
        if len(analysed) < len(ranks)
        else None,
    )


def probe_criterion(
    config: StudyConfig, study: Path, q3: Answer, us: dict[str, np.ndarray] | None = None
) -> dict[str, Any]:
    """Criterion 6 from the seeds' probe results; ``q3`` (the findings' answer) gives the CI of the
    window's mean AUROC."""
    from experiments.study.probe_findings import OVER_CHANCE

    window = set(parse_offsets(config.window))
    aurocs, tokens, positives = [], [], []
    for seed in config.seeds:
        path = study / f"seed{seed}" / "probes" / "results.json"
        for r in json.loads(path.read_text())["results"]:
            if (
                r["model"] == "reasoner"
                and r["layer"] == config.steer_layer
                and r["offset"] in window
            ):
                aurocs.append(r["auroc"])
                tokens.append(r["token_auroc"])
                positives.append(int(r["n_test_pos"]))
    auroc, token = float(np.mean(aurocs)), float(np.mean(tokens))
    # how much to trust the figure: Q3's 95 % CI of the window's mean AUROC (the trace-bootstrap
    # CIs of its offsets and seeds), and the fewest test positives of one offset's probe
    (chance,) = [e for e in q3.effects if e.label == OVER_CHANCE]
    lo, hi = max(0.0, 0.5 + chance.lo), min(1.0, 0.5 + chance.hi)
    figure = {
        "auroc": auroc,
        "auroc_lo": lo,
        "auroc_hi": hi,
        "token_auroc": token,
        "min_test_positives": min(positives, default=0),
    }
    known = [p for p in (_planted_auroc(config, study, s, us or {}) for s in config.seeds) if p]
    if known:
        for name in known[0]:
            figure[name] = float(np.mean([p[name] for p in known]))
    return _criterion(
        "c6",
        f"the reasoner's layer-{config.steer_layer} probes over the window {config.window}: test "
        "AUROC, and the token-identity baseline's (auroc_lo, auroc_hi: the 95 % CI of the "
        "window's mean AUROC, as in Q3; min_test_positives: the fewest test positives "
        "of one offset's probe; planted_u: the planted direction's own AUROC on the probes' rows, "
        "when the stores are there; planted_u_at_line_end: u read at each of those rows' "
        "decision point (its line's last token) instead; planted_u_any_opener: u against every "
        "candidate negative at the positives' distance to the line's end, whatever opens its line; "
        "positives_in_backtrack_lines: the share of the window's positives in a line that a "
        "backtracking sentence opened)",
        figure,
        f"AUROC ≥ {PROBE_MIN}; token AUROC ≤ {TOKEN_MAX}",
        bool(auroc >= PROBE_MIN and token <= TOKEN_MAX),
        note=(
            f"the AUROC's 95 % CI [{lo:.3f}, {hi:.3f}] holds {PROBE_MIN}: the test sets are too "
            "small for this grade to be decisive"
            if lo < PROBE_MIN <= hi
            else None
        ),
    )


def slot_matched_auroc(
    scores: np.ndarray, positive: np.ndarray, pool: np.ndarray, slot: np.ndarray
) -> float:
    """AUROC of ``scores`` for ``positive`` against the ``pool`` rows, each pool row weighted so
    that every slot's negatives weigh as much as its positives (pool rows of slots without a
    positive get no weight)."""
    from probes.metrics import ranking_metrics

    size = int(slot.max()) + 1
    n_pos = np.bincount(slot[positive], minlength=size)
    n_pool = np.bincount(slot[pool & ~positive], minlength=size)
    weight = positive.astype(np.float64)
    neg = pool & ~positive & (n_pos[slot] > 0)
    weight[neg] = n_pos[slot[neg]] / n_pool[slot[neg]]
    auc, _ = ranking_metrics(scores, positive, weight[None, :])
    return float(auc[0])


def _planted_auroc(
    config: StudyConfig, study: Path, seed: int, us: dict[str, np.ndarray]
) -> dict[str, float] | None:
    """What reading the planted direction perfectly would reach on the probes' own problem: the
    AUROC of ``u·x`` for the probe step's positives against its negatives (every split, mean over
    the window's offsets), from the seed's store; None when the store is gone (committed results).

    A reference, not a bound (a probe may also read correlates of ``u``): when it is low the
    planted concept does not separate the classes at the window and a failing c6 is the
    control's; when it passes and the probe does not, the probe is at fault.

    ``{label}_at_line_end`` is ``u·x`` read at each row's decision point instead (the last token
    of its line: the line break the reader reads), on the same rows: where it is high and
    ``planted_{label}`` is not, the concept is there when the reader acts but has not persisted
    back over the window. ``{label}_any_opener`` is the same AUROC as ``planted_{label}``
    against every other candidate negative (:func:`probes.probe_data.negative_candidates`) at the
    positives' distance to the line's end (weighted slot by slot to the positives' counts),
    whatever token opens its line: what the matched negatives' opener matching costs. Where events
    chain (a backtracking line followed by another; ``positives_in_backtrack_lines``: the share of
    the window's positives in a line that a backtracking sentence opened), matching on the opener
    draws negatives from such lines too, in which a persistent concept is still high.
    """
    store_path = study / f"seed{seed}" / "store.h5"
    if not us or not store_path.is_file():
        return None
    from activation_store.reader import ActivationStore
    from experiments.study.stages import probe_config
    from probes.layout import store_layout
    from probes.metrics import ranking_metrics
    from probes.probe_data import build_probe_data, negative_candidates
    from probes.selection import event_mask

    cfg = probe_config(config, seed)
    window = set(parse_offsets(config.window))
    offsets = [o for o, d in enumerate(cfg.offsets) if d in window]
    with ActivationStore(store_path) as store:
        layout = store_layout(store, store.models[0])
        data = build_probe_data(store, cfg, layout)
        ref = np.flatnonzero(data.reference.mask)
        events = event_mask(store, cfg.label)
        seq = store.tokens.seq_index
        x = store.read(cfg.models[0], config.steer_hook, ref).astype(np.float64)
    in_rows = np.searchsorted(ref, data.rows)  # the probe rows are reference rows
    positive = np.zeros((1, len(seq)), dtype=bool)
    positive[0, data.rows[data.positive.any(axis=0)]] = True
    pool = negative_candidates(seq, events, positive, data.reference.mask, layout)[ref]
    slot = layout.key(1, opener=False)[ref]  # the distance to the line's end
    # each probe row's decision point: the last token of its line (a line break, where the
    # reader reads), when it lies in the reference span
    line_end = data.rows + layout.until_line[data.rows]
    at_end = np.searchsorted(ref, line_end).clip(max=len(ref) - 1)
    end_known = ref[at_end] == line_end
    out = {}
    for label, u in us.items():
        s = x @ u
        matched, any_opener, line_ends = [], [], []
        for o in offsets:
            sel = data.positive[o] | data.negative[o]
            y = data.positive[o][sel]
            auc, _ = ranking_metrics(s[in_rows][sel], y, np.ones((1, int(sel.sum()))))
            matched.append(float(auc[0]))
            both = sel & end_known
            auc, _ = ranking_metrics(
                s[at_end][both], data.positive[o][both], np.ones((1, int(both.sum())))
            )
            line_ends.append(float(auc[0]))
            pos = np.zeros(len(ref), dtype=bool)
            pos[in_rows[data.positive[o]]] = True
            any_opener.append(slot_matched_auroc(s, pos, pool, slot))
        out[f"planted_{label}"] = float(np.mean(matched))
        out[f"planted_{label}_any_opener"] = float(np.mean(any_opener))
        out[f"planted_{label}_at_line_end"] = float(np.mean(line_ends))
    # a line opened by a backtracking sentence: its first token is an event
    opened_by_event = events[ref - layout.since_line[ref]]
    out["positives_in_backtrack_lines"] = float(
        np.mean([opened_by_event[in_rows[data.positive[o]]].mean() for o in offsets])
    )
    return out


def ground_truth(
    config: StudyConfig, study: Path, answers: dict[str, Answer]
) -> dict[str, Any] | None:
    """The ``"ground_truth"`` object of the findings, or None when the reasoner has no record."""
    from activation_store.models.planted_records import planted_record

    record = planted_record(config.reasoner)
    if record is None:
        return None
    variant = str(record.get("variant", "single"))
    us = planted_directions(record)
    latents = {d["name"]: int(d["sae_latent"]) for d in record["directions"] if "sae_latent" in d}
    criteria = [cosine_criterion(config, study, us)]
    if record.get("layer") != config.steer_layer:
        criteria[0]["note"] = (
            f"the planted direction lives at block {record.get('layer')}, the study steers at "
            f"{config.steer_layer}"
        )
    if variant == "null":
        q1, q4 = answers["q1"], answers["q4"]
        criteria[0]["passed"] = None
        criteria[0]["threshold"] = "reported only (the null direction is never active)"
        criteria.append(
            _criterion(
                "n1",
                "null variant: Q1 (steering) and Q4 (mediation) verdicts are not yes",
                {"q1": q1.verdict, "q4": q4.verdict},
                "neither is yes",
                q1.verdict != "yes" and q4.verdict != "yes",
            )
        )
    else:
        criteria.append(steering_criterion(config, study))
        criteria.append(base_criterion(answers["q2"]))
        criteria += [ablation_criterion(config, study, m) for m in config.ablation_modes]
        if latents and config.sae is not None:
            criteria.append(sae_criterion(config, study, latents))
        criteria.append(probe_criterion(config, study, answers["q3"], us))
        if variant == "joint":
            q4 = answers["q4"]
            e = q4.effects[0]
            criteria.append(
                _criterion(
                    "j1",
                    "joint variant: ablating the first k directions cuts more than the best single "
                    "one (CI excludes 0) and Q4 is yes",
                    {"diff": e.diff, "lo": e.lo, "hi": e.hi, "q4": q4.verdict},
                    "CI < 0 and Q4 yes",
                    bool(e.hi < 0 and q4.verdict == "yes"),
                )
            )
    graded = [c["passed"] for c in criteria if c["passed"] is not None]
    return {
        "model": config.reasoner,
        "variant": variant,
        "planted": {
            "layer": record.get("layer"),
            "directions": [{k: v for k, v in d.items() if k != "u"} for d in record["directions"]],
            "opener": record.get("opener"),
            "calibration": record.get("calibration"),
        },
        "criteria": criteria,
        "passed": sum(bool(p) for p in graded),
        "graded": len(graded),
    }


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} {_short(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "; ".join(_short(v) for v in value)
    return str(value)


def ground_truth_lines(truth: dict[str, Any]) -> list[str]:
    """Progress lines: one per criterion, pass/fail first."""
    out = [
        f"GROUND TRUTH ({truth['variant']} planted mechanism in {truth['model']}): "
        f"{truth['passed']}/{truth['graded']} criteria passed"
    ]
    for c in truth["criteria"]:
        mark = {True: "PASS", False: "FAIL", None: "----"}[c["passed"]]
        note = f"; {c['note']}" if c.get("note") else ""
        out.append(
            f"  {mark} {c['key']}: {c['criterion']}: {_short(c['figure'])} ({c['threshold']}){note}"
        )
    return out
