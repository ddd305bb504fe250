"""Time and disk a study will take, step by step, from measured per-token costs.

Generation is costed in generated tokens (upper bounds: every generation is assumed to run to its
``max_new_tokens``), forward passes in tokens × decoder blocks run, disk in bytes. The per-token
costs are measured figures (:data:`MEASURED`): the CPU row comes from ``benchmarks/README.md`` on
``smollm2-135m``, the CUDA row from ``benchmarks/real_scale_cost.py`` on an H200 with Llama-3.1-8B's
architecture. For another model the seconds are scaled by parameter count, and every such scaling
is stated in the notes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from activation_store.events import parse_offsets
from experiments.study.config import StudyConfig
from experiments.study.shapes import ModelShape

TRACE_BYTES_PER_TOKEN = 33
"""A traces JSONL line per token: text (~4.5 chars), token id and char offsets (measured 25.5 on
tiny-llama's 3-digit ids; Llama-3's 6-digit ids and longer texts add ~8)."""
TRACE_BYTES_PER_LINE = 1_000
"""Each trace line's fixed part: ids, prompt, settings."""
GENERATION_BYTES_PER_TOKEN = 12
"""generations.jsonl per generated token: the id and the text."""
GENERATION_BYTES_PER_RECORD = 800
"""Per generation: metrics, condition, prompt id (~600) and its share of interventions.jsonl."""
STORE_ROW_EXTRA_BYTES = 8
"""Per store row besides activations: token id, positions and labels."""
LABEL_BYTES_PER_TOKEN = 2
"""labels.jsonl: sentence spans and labels, per trace token."""
SAE_OUT_BYTES = 20_000_000
"""decompose's output without the UMAP: JSON, figures, cards, feature directions (rough)."""
CHARS_PER_TOKEN = 4.0
TEMPLATE_TOKENS = 10
"""Chat-template tokens around a prompt (BOS, role markers, ``<think>``)."""
PROBE_SECONDS = 717.0 / 270
"""Seconds per probe (model × layer × offset) at d_model :data:`PROBE_D_MODEL`: sklearn on the CPU
(the study's probe step uses it on any device), from benchmarks/README.md."""
PROBE_D_MODEL = 576


@dataclass(frozen=True, kw_only=True)
class DeviceCosts:
    """Measured throughput of one device class on a reference model."""

    hardware: str
    reference_model: str
    reference_params: int
    trace_tok_s: tuple[tuple[int, float], ...]
    """(batch size, generated tokens/s) of trace generation."""
    steer_tok_s: tuple[tuple[int, float], ...]
    """(batch size, generated tokens/s) of steered generation."""
    cache_layer_tok_s: float
    """Caching: tokens × blocks run per second (the forward stops after the last cached layer)."""
    forward_layer_tok_s: float
    """A full Hugging Face forward (perplexity scoring): tokens × blocks per second."""
    source: str


MEASURED: dict[str, DeviceCosts] = {
    "cpu": DeviceCosts(
        hardware="shared 2-core CPU, 1 torch thread",
        reference_model="smollm2-135m",
        reference_params=134_515_008,
        trace_tok_s=((16, 41.2),),
        steer_tok_s=((16, 62.0),),
        cache_layer_tok_s=617.0 * 16,
        forward_layer_tok_s=507.0 * 16,
        source="benchmarks/README.md (trace, steering, cache and probe throughput)",
    ),
    "cuda": DeviceCosts(
        hardware="NVIDIA H200, bfloat16",
        reference_model="Llama-3.1-8B architecture",
        reference_params=8_030_261_248,
        trace_tok_s=((32, 790.6), (64, 2158.1)),
        steer_tok_s=((32, 790.6), (64, 2158.1)),
        cache_layer_tok_s=343_608.1,
        forward_layer_tok_s=1_161_609.9,
        source="benchmarks/results/real_scale_cost_h200.json (lowest of the runs per batch size)",
    ),
}
"""Per-token costs by device class (``cpu``, ``cuda``)."""


@dataclass(frozen=True)
class StepEstimate:
    """One row of the estimate, summed over all seeds."""

    step: str
    tokens: int
    """Tokens generated (generation steps) or run through the model (forward steps); 0: none."""
    seconds: float | None
    """None: not estimated (see ``basis``)."""
    bytes: int
    """Disk written."""
    basis: str = ""
    """How ``seconds`` was obtained."""


@dataclass(frozen=True)
class Workload:
    """Counts the costs follow from, per seed."""

    prompt_tokens: float
    n_traces: int
    n_sweep: int
    """Steering generations of the sweep (both models, unsteered included)."""
    n_ablation: int
    n_probes: int


def workload(config: StudyConfig, n_derivation: int, mean_prompt_chars: float) -> Workload:
    """Generation and probe counts per seed (as ``experiments.study.stages`` runs them)."""
    n_dirs = 2 + n_dirs_of(config, sweep=True)
    n_alphas = sum(1 for a in config.alphas if a != 0)
    n_modes, n_kinds = len(config.ablation_modes), len(config.ablation_random_kinds)
    ks = sorted(set(config.ablation_ks))
    n_subsets = len({tuple(config.ablation_directions[:k]) for k in ks} | {
        (d,) for d in config.ablation_directions
    })  # fmt: skip
    return Workload(
        prompt_tokens=mean_prompt_chars / CHARS_PER_TOKEN + TEMPLATE_TOKENS,
        n_traces=min(config.n_trace_prompts or n_derivation, n_derivation),
        n_sweep=2 * config.n_steer_prompts * (1 + n_dirs * n_alphas),
        n_ablation=config.n_steer_prompts
        * (1 + n_modes * (n_subsets + len(ks) * config.ablation_n_random * n_kinds)),
        n_probes=2 * len(config.layers) * len(parse_offsets(config.probe_offsets)),
    )


def device_class(device: str, cuda_available: bool) -> str:
    """``cpu`` or ``cuda`` (``auto`` as it would resolve here), or the name when unmeasured."""
    if device == "auto":
        return "cuda" if cuda_available else "cpu"
    return "cuda" if device.startswith("cuda") else device


def estimate_steps(
    config: StudyConfig, shape: ModelShape, work: Workload, costs: DeviceCosts | None
) -> tuple[list[StepEstimate], list[str]]:
    """Rows for every step of the study (all seeds together) and notes on how they were made."""
    seeds = len(config.seeds)
    rows = [
        StepEstimate(e.step, seeds * e.tokens, None if e.seconds is None else seeds * e.seconds,
                     seeds * e.bytes, e.basis)
        for e in seed_steps(config, shape, work, costs)
    ]  # fmt: skip
    notes = []
    scale = 1.0 if costs is None else shape.n_params / costs.reference_params
    if costs is not None and not 0.9 <= scale <= 1.1:
        notes.append(
            f"seconds scaled from {costs.reference_model} ({costs.hardware}) by parameter count "
            f"(×{scale:.3g}): a rough guide"
        )
    weights = shape.n_params * (4 if config.dtype == "float32" else 2)
    notes.append(
        f"not in the times: 8 model loads per seed (traces 1, cache 2, directions 2, sweep 2, "
        f"ablation 1), each reading {weights / 1e9:.1f} GB of weights from disk"
    )
    n_gens = seeds * (work.n_sweep + work.n_ablation)
    trace_new = seeds * work.n_traces * config.trace_max_new_tokens
    notes.append(
        f"tokens are upper bounds: {trace_new:,} trace and "
        f"{n_gens * config.steer_max_new_tokens:,} steering tokens if every generation runs to "
        f"its max_new_tokens ({n_gens:,} steering generations)"
    )
    return rows, notes


def seed_steps(
    config: StudyConfig, shape: ModelShape, work: Workload, costs: DeviceCosts | None
) -> list[StepEstimate]:
    """The rows of one seed."""
    row_tokens = round(work.n_traces * (work.prompt_tokens + config.trace_max_new_tokens))
    trace_new = work.n_traces * config.trace_max_new_tokens
    store = row_tokens * (len(config.layers) * shape.d_model * 2 + STORE_ROW_EXTRA_BYTES)
    blocks = max(config.layers) + 1
    scale = 1.0 if costs is None else shape.n_params / costs.reference_params
    unknown = "no measured figures for this device"

    def generation(table: str, n: int, new: int, perplexity: bool) -> tuple[float | None, str]:
        if costs is None:
            return None, unknown
        rate, basis = _rate(getattr(costs, table), config.batch_size)
        if not perplexity:
            return n * new / rate * scale, basis
        scored = n * (work.prompt_tokens + new) * shape.n_layers / costs.forward_layer_tok_s
        return (n * new / rate + scored) * scale, f"{basis} + perplexity forward"

    cache_s = None if costs is None else row_tokens * blocks / costs.cache_layer_tok_s * scale
    cache_basis = unknown if costs is None else f"{blocks} blocks per token"
    probe_each = PROBE_SECONDS * shape.d_model / PROBE_D_MODEL
    per_gen = GENERATION_BYTES_PER_TOKEN * config.steer_max_new_tokens + GENERATION_BYTES_PER_RECORD
    new = config.steer_max_new_tokens
    trace_s, trace_basis = generation(
        "trace_tok_s", work.n_traces, config.trace_max_new_tokens, False
    )
    sweep_s, sweep_basis = generation("steer_tok_s", work.n_sweep, new, True)
    ablation_s, ablation_basis = generation("steer_tok_s", work.n_ablation, new, True)
    trace_bytes = work.n_traces * TRACE_BYTES_PER_LINE + row_tokens * TRACE_BYTES_PER_TOKEN
    direction_bytes = 2 * len(config.layers) * (5 + n_dirs_of(config)) * shape.d_model * 4
    decisions = []
    if config.decision_points:
        n_held = config.n_steer_prompts
        held_s, held_basis = generation("trace_tok_s", n_held, config.trace_max_new_tokens, False)
        held_tokens = n_held * (work.prompt_tokens + config.trace_max_new_tokens)
        every = sum(a != 0 for a in config.decision_alphas)
        few = sum(a != 0 for a in config.decision_random_alphas) or every
        fixed = 2 + n_dirs_of(config) - config.n_random
        cells = 2 * (1 + fixed * every + config.n_random * few)
        # one full forward per model; a steered cell replays the blocks below the steered one
        # (DecisionConfig.prefix_cache_mb)
        layer_passes = 2 * shape.n_layers + (cells - 2) * (shape.n_layers - config.steer_layer)
        read_s = (
            None
            if costs is None
            else held_tokens * layer_passes / costs.forward_layer_tok_s * scale
        )
        decisions = [
            StepEstimate("heldout-traces", n_held * config.trace_max_new_tokens, held_s,
                         round(n_held * TRACE_BYTES_PER_LINE), held_basis),
            StepEstimate("decisions", round(cells * held_tokens), read_s, cells * n_held * 400,
                         unknown if costs is None else f"{cells} cells × one forward per trace, "
                         f"blocks from {config.steer_layer} on when steered"),
        ]  # fmt: skip
    return [
        StepEstimate("traces", trace_new, trace_s, round(trace_bytes), trace_basis),
        StepEstimate("cache-base", row_tokens, cache_s, store, cache_basis),
        StepEstimate("cache-reasoner", row_tokens, cache_s, store, cache_basis),
        StepEstimate("label", 0, None, row_tokens * LABEL_BYTES_PER_TOKEN,
                     "not estimated (keyword matching)"),
        StepEstimate("directions", 0, None, direction_bytes,
                     "not estimated (one streamed read of the store per model)"),
        StepEstimate("probes", 0, work.n_probes * probe_each, 0,
                     f"{work.n_probes} probes per seed × {probe_each:.2g} s (sklearn, CPU; "
                     f"scaled by d_model from {PROBE_D_MODEL})"),
        StepEstimate("sae", 0, None, SAE_OUT_BYTES if config.sae else 0,
                     "not estimated" if config.sae else "skipped (sae = none)"),
        *decisions,
        StepEstimate("sweep", work.n_sweep * new, sweep_s, work.n_sweep * per_gen, sweep_basis),
        StepEstimate("ablation", work.n_ablation * new, ablation_s, work.n_ablation * per_gen,
                     ablation_basis),
    ]  # fmt: skip


def n_dirs_of(config: StudyConfig, *, sweep: bool = False) -> int:
    """Directions saved per model and layer besides dom/mean/offset0: randoms and token rows
    (``sweep``: those the free-generation sweep steers with)."""
    randoms = config.n_random
    if sweep and config.sweep_n_random is not None:
        randoms = config.sweep_n_random
    return randoms + len(config.token_baselines) * len(config.token_baseline_kinds)


def _rate(table: tuple[tuple[int, float], ...], batch: int) -> tuple[float, str]:
    """Tokens/s at ``batch``: the nearest measured batch size, scaled down linearly when the
    config's batch is smaller (never up: larger batches are not assumed to help)."""
    measured, rate = min(table, key=lambda row: (abs(math.log(row[0] / batch)), -row[0]))
    if batch < measured:
        return (
            rate * batch / measured,
            f"{rate:,.0f} tok/s at batch {measured} × {batch}/{measured}",
        )
    return rate, f"{rate:,.0f} tok/s at batch {measured}"
