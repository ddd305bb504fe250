"""The settings of one study: models, layers, sizes of every step, and the seeds it is repeated over.

A study config is a flat TOML file whose keys are the fields of :class:`StudyConfig` (see
``experiments/configs/demo.toml``). Every step of the study is an ordinary ``backtrack``
command; these settings are what the study passes to them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from activation_store.core.configs import ConfigError, load_config
from activation_store.models.hooks import hook_name
from experiments.generation.config import Engine

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
"""Where the built-in study configs live (``demo``, ``demo_quick``, ``organism_full``, …)."""

BUILTIN = (
    "demo",
    "demo_quick",
    "organism_full",
    "llama31_8b_r1_distill",
    "planted_quick",
    "planted",
    "planted_joint",
    "planted_null",
)


@dataclass(frozen=True, kw_only=True)
class StudyConfig:
    """Everything one study run needs; each seed repeats the whole pipeline."""

    name: str = "study"
    """Short name shown in progress lines and the report."""
    reasoner: str = "smollm2-135m-reasoner"
    """The reasoning model: a spec name or a local Hugging Face directory."""
    base: str = "smollm2-135m"
    """The base model it was finetuned from (spec name or local directory)."""
    device: str = "cpu"
    """Where models run: cpu, cuda, cuda:N or auto."""
    dtype: str = "float32"
    """Model weights' dtype: float32, bfloat16 or float16."""
    engine: str = "hf"
    """Generation engine of the traces, the steering sweep and the ablation: hf or vllm (the
    optional extra backtrack-toolkit[vllm]; ablation_positions all or START:STOP, which
    ``study check`` and ``study run`` verify before any step runs). Caching,
    probes and the decision points are forward passes on the Hugging Face model either way."""
    threads: int | None = None
    """torch intra-op threads (None: torch's default)."""
    seeds: tuple[int, ...] = (0,)
    """Each seed reruns the pipeline: trace sampling, random baselines and steering generations."""
    prompts: str = "reasoning-v1"
    """Built-in prompt set or JSONL file; its derivation split is traced, its evaluation split
    is steered."""
    n_trace_prompts: int | None = 100
    """Derivation prompts traced per seed (None: all)."""
    prompt_selection: str = "stratified"
    """How the traced and steered prompts are chosen from each split: stratified (the same share
    of every category, seeded) or first (in file order)."""
    trace_max_new_tokens: int = 160
    """Most tokens generated per trace."""
    trace_temperature: float = 0.7
    """Sampling temperature of the traces (0: greedy, then every seed gives the same traces)."""
    batch_size: int = 16
    """Prompts generated together (traces, steering and ablation)."""
    layers: tuple[int, ...] = (10, 15)
    """Layers whose residual stream (blocks.L.hook_resid_post) is cached, probed and differenced."""
    steer_layer: int = 10
    """Layer whose directions are steered with, decomposed and ablated (one of layers)."""
    window: str = "-12:-8"
    """Token offsets before each backtracking sentence averaged into the difference of means."""
    min_events: int = 10
    """Fewest backtracking events a direction or probe is fit on (fewer: the step refuses)."""
    probe_offsets: str = "-16:0"
    """Offsets relative to each backtracking start at which probes are fit."""
    probe_models: tuple[str, ...] = ("base", "reasoner")
    """Models probed (the findings read the reasoner's probes)."""
    probe_max_negatives: int = 20000
    """Background tokens sampled as the probes' negatives (fewer: faster fits)."""
    probe_n_bootstrap: int = 1000
    """Bootstrap replicates of the probes' CIs."""
    probe_n_shuffles: int = 3
    """Shuffled-label control probes per layer and offset."""
    probe_negatives: Literal["matched", "position", "uniform"] = "matched"
    """The probes' negatives (`backtrack probe --negatives`): matched on the line opener and the
    distances to the line's end and start, on the distances only (position), or uniform."""
    sae: str | None = "smollm2-135m-l10r-8x"
    """SAE for the base model at steer_layer (built-in name, sae_lens directory, or release:id);
    none (or an empty string) skips the decomposition."""
    n_steer_prompts: int = 40
    """Held-out (evaluation split) prompts per steering and ablation cell."""
    steer_max_new_tokens: int = 128
    """Most tokens generated per steered prompt; with steer_stop_at_answer, long enough for most
    unsteered generations to reach their answer (the findings say what share did)."""
    steer_stop_at_answer: bool = False
    """Steering and ablation generations go on past "</think>" to the answer line and stop once
    a final answer is stated, so each cell's answer accuracy is measured (the capability check);
    false: they stop at "</think>" and no accuracy is read."""
    capability_tolerance: float = 0.1
    """The capability check: a direction destroys capability when, at headline_alpha, the
    reasoner's accuracy (answered_correctly) drops below unsteered with the CI's upper end below
    0 and the drop at least this large; it keeps capability when the CI's lower end lies above
    −capability_tolerance; otherwise the check is inconclusive."""
    base_unchanged_share: float = 0.25
    """Q2 (the base-model control): the base model counts as unchanged when the CI of its change
    lies within ± this share of the reasoner's change under the same direction and α (yes), as
    changed when the CI lies wholly beyond that margin (no), and inconclusive otherwise."""
    capability_min_answered: float = 0.5
    """The capability check is inconclusive unless at least this share of the unsteered
    generations states an answer (fewer: raise steer_max_new_tokens, or "never answered" would be
    read as "wrong")."""
    steer_temperature: float = 0.7
    """Sampling temperature while steering (the seed picks the samples)."""
    alphas: tuple[float, ...] = (0.0, 0.1, 0.2, -0.2)
    """Steering strengths in units of the direction's mean residual norm (0: unsteered)."""
    n_random: int = 3
    """Norm-matched random directions per seed (steering baselines); seed s draws seeds
    s × n_random … (s + 1) × n_random − 1, so no two seeds share a random direction."""
    perplexity: bool = True
    """Score every steered generation's perplexity under the unsteered model (a coherence check
    that costs one forward pass per generation)."""
    token_baselines: tuple[str, ...] = ("Wait",)
    """Words whose embedding and unembedding rows are steering baselines."""
    token_baseline_kinds: tuple[str, ...] = ("embed", "unembed")
    """Which rows of each word are steered with: embed, unembed (one suffices for tied weights)."""
    ablation_directions: tuple[str, ...] = ("base_dom", "reasoner_dom", "reasoner_offset0")
    """Directions projected out jointly, in order (model_kind at steer_layer, or a full name)."""
    ablation_ks: tuple[int, ...] = (1, 2, 3)
    """Subspace sizes: ablate the first k ablation_directions."""
    ablation_modes: tuple[str, ...] = ("zero", "mean")
    """zero: project the span out; mean: replace it by the reasoner's mean activation (a control
    for how much zero-ablation moves every token). Q4's verdict reads zero-ablation; mean-ablation
    is reported beside it."""
    ablation_positions: str = "all"
    """Positions ablated: all, generated, or START:STOP (1: leaves the first token, the attention
    sink, alone)."""
    ablation_hooks: tuple[str, ...] = ()
    """Hooks to ablate at (default: the steer layer's residual stream; blocks.*.hook_resid_post:
    every layer)."""
    ablation_n_random: int = 3
    """Random k-dimensional subspaces ablated per k and kind (the chance level); none is shared
    between seeds (seed s starts at s × ablation_n_random)."""
    ablation_random_kinds: tuple[str, ...] = ("isotropic",)
    """Random subspaces ablated: isotropic (uniform) and/or variance_matched (the reasoner's
    variance along them, on the seed's cached traces, equals that along the ablated span's; see
    experiments.steering.runs.subspaces). Q4 compares with every kind given; each ablated span's
    share of the residual (mean component, variance) is reported either way."""
    decision_points: bool = True
    """Read the teacher-forced decision-point metric (the primary measure of "does the direction
    induce backtracking"): the reasoner's held-out traces on the steering prompts, read by both
    models, steered at every decision_alphas."""
    decision_alphas: tuple[float, ...] = (
        0.0,
        0.05,
        0.1,
        0.2,
        0.3,
        0.4,
        -0.05,
        -0.1,
        -0.2,
        -0.3,
        -0.4,
    )
    """Strengths of the decision-point reading (≥ 5 of each sign for a dose-response; must hold
    headline_alpha); one forward pass per trace each, so many are affordable."""
    decision_random_alphas: tuple[float, ...] = ()
    """Strengths at which the random directions are read at the decision points (a subset of
    decision_alphas holding headline_alpha and a positive α above it, for the matched-KL
    comparison); empty: every decision_alphas. The base and reasoner directions always get every
    strength (their dose-response)."""
    sweep_n_random: int | None = None
    """Random directions steered in free generation (the first of the n_random; the decision
    points read all of them): free-generation cells are the costly ones, and the primary
    verdict comes from the decision points. None: all n_random."""
    headline_alpha: float = 0.2
    """The α (positive) at which the findings compare directions."""
    metric: str = "coherent_backtracking_sentences"
    """The backtracking metric the findings use (see the steering metrics)."""

    def __post_init__(self) -> None:
        if self.sae is not None and self.sae.strip().lower() in ("", "none"):
            object.__setattr__(self, "sae", None)
        checks = [
            (bool(self.seeds), "seeds is empty; give at least one"),
            (len(set(self.seeds)) == len(self.seeds), f"seeds repeat: {list(self.seeds)}"),
            (bool(self.layers), "layers is empty; give the layers to cache"),
            (self.steer_layer in self.layers, f"steer_layer {self.steer_layer} is not in layers {list(self.layers)}"),
            (self.n_trace_prompts is None or self.n_trace_prompts >= 1, "n_trace_prompts must be ≥ 1"),
            (self.n_steer_prompts >= 1, "n_steer_prompts must be ≥ 1"),
            (self.trace_max_new_tokens >= 1 and self.steer_max_new_tokens >= 1, "max_new_tokens must be ≥ 1"),
            (self.batch_size >= 1, "batch_size must be ≥ 1"),
            (0.0 in self.alphas, "alphas must contain 0 (the unsteered reference)"),
            (self.headline_alpha in self.alphas and self.headline_alpha > 0, f"headline_alpha {self.headline_alpha} must be a positive member of alphas"),
            (not self.decision_points or (0.0 in self.decision_alphas and self.headline_alpha in self.decision_alphas), f"decision_alphas {list(self.decision_alphas)} must hold 0 and headline_alpha {self.headline_alpha}"),
            (self.n_random >= 1, "n_random must be ≥ 1 (findings compare with random directions)"),
            (all(1 <= k <= len(self.ablation_directions) for k in self.ablation_ks), f"ablation_ks {list(self.ablation_ks)} must lie in 1..{len(self.ablation_directions)} (the number of ablation_directions)"),
            (set(self.token_baseline_kinds) <= {"embed", "unembed"}, f"token_baseline_kinds {list(self.token_baseline_kinds)}: choose from embed, unembed"),
            (bool(self.ablation_modes) and set(self.ablation_modes) <= {"zero", "mean"}, f"ablation_modes {list(self.ablation_modes)}: choose from zero, mean"),
            ("reasoner" in self.probe_models and set(self.probe_models) <= {"base", "reasoner"}, "probe_models must include reasoner and hold only base, reasoner"),
            (self.threads is None or self.threads >= 1, "threads must be ≥ 1"),
            (0 < self.capability_tolerance < 1, f"capability_tolerance {self.capability_tolerance} must be in (0, 1)"),
            (0 < self.base_unchanged_share < 1, f"base_unchanged_share {self.base_unchanged_share} must be in (0, 1)"),
            (0 <= self.capability_min_answered <= 1, f"capability_min_answered {self.capability_min_answered} must be in [0, 1]"),
            (bool(self.ablation_random_kinds) and set(self.ablation_random_kinds) <= {"isotropic", "variance_matched"}, f"ablation_random_kinds {list(self.ablation_random_kinds)}: choose from isotropic, variance_matched"),
            (set(self.decision_random_alphas) <= set(self.decision_alphas) and (not self.decision_random_alphas or self.headline_alpha in self.decision_random_alphas), f"decision_random_alphas {list(self.decision_random_alphas)} must be a subset of decision_alphas holding headline_alpha {self.headline_alpha}"),
            (self.sweep_n_random is None or 1 <= self.sweep_n_random <= self.n_random, f"sweep_n_random {self.sweep_n_random} must lie in 1..n_random ({self.n_random})"),
            (self.prompt_selection in ("stratified", "first"), f"prompt_selection {self.prompt_selection!r}: choose stratified or first"),
            (self.engine in get_args(Engine), f"engine {self.engine!r}: choose {' or '.join(get_args(Engine))}"),
        ]  # fmt: skip
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)

    @property
    def hooks(self) -> tuple[str, ...]:
        """The cached hooks, in TransformerLens form."""
        return tuple(hook_name("resid_post", layer) for layer in self.layers)

    @property
    def steer_hook(self) -> str:
        return hook_name("resid_post", self.steer_layer)


def resolve_config_path(name_or_path: str) -> Path:
    """A built-in config name (``demo``) or a path to a TOML file."""
    if name_or_path in BUILTIN:
        return CONFIG_DIR / f"{name_or_path}.toml"
    path = Path(name_or_path)
    if not path.is_file():
        raise ConfigError(
            f"study config {name_or_path!r} is neither a file nor a built-in config "
            f"({', '.join(BUILTIN)})"
        )
    return path


def load_study_config(name_or_path: str, **overrides: Any) -> StudyConfig:
    """Read a study config (TOML; keys = field names) and apply keyword overrides."""
    return load_config(StudyConfig, resolve_config_path(name_or_path), **overrides)
