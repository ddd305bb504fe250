"""Experiment configs: a steering sweep and an ablation (joint mediation) run.

Each is a frozen dataclass: the Python API, the TOML file (keys = field names) and the
``backtrack steer`` options at once. The resolved config is saved in the run directory, and a run is
only resumed with the same config.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal, get_args

from activation_store.core.configs import ConfigError
from activation_store.core.configs import need as _need
from activation_store.models.config import DEVICE_PATTERN, Dtype
from experiments.generation.config import Engine
from experiments.steering.interventions.units import AlphaUnit

ChatTemplate = Literal["auto", "on", "off"]
GroupScale = Literal["each", "split"]
AblationMode = Literal["zero", "mean"]
RandomKind = Literal["isotropic", "variance_matched"]


@dataclass(frozen=True, kw_only=True)
class RunSettings:
    """What every steering or ablation run needs: models, directions, prompts, decoding, metrics."""

    models: tuple[str, ...] = ()
    """Models to intervene on (spec names or local HF directories): the reasoning model, and the
    base model as the negative control."""
    model_labels: tuple[str, ...] = ()
    """Names for the models in results, e.g. reasoner,base (default: the specs themselves)."""
    directions_dir: str = ""
    """Directory of saved directions (NAME.safetensors + NAME.json) from the probes/SAE steps."""
    directions: tuple[str, ...] = ()
    """Direction names to use, in order (default: every direction in directions_dir)."""
    prompts: str = "reasoning-v1"
    """Built-in prompt set name or a JSONL file of {"id", "prompt", "answer"?, "split"?}."""
    split: str = "evaluation"
    """Prompt split to run on: held-out prompts, never used to derive a direction."""
    n_prompts: int | None = None
    """Use N of the held-out prompts, chosen by ``prompt_selection`` (None: all)."""
    prompt_selection: Literal["stratified", "first"] = "stratified"
    """How the N prompts are chosen: stratified (the same share of every category, seeded by
    ``prompt_seed``) or first (in file order). The plan records the categories covered."""
    prompt_seed: int = 0
    """Seed of the stratified prompt selection."""
    chat_template: ChatTemplate = "auto"
    """Wrap prompts with each model's chat template: auto (when the tokenizer has one), on, off."""
    plain_template: str = "Question: {prompt}\nAnswer:"
    """Text given to models without a chat template; {prompt} is replaced by the question."""
    hooks: tuple[str, ...] = ()
    """Hooks to intervene at (blocks.*.hook_X: every layer); default: the directions' own hook. To
    keep an ablated subspace out of the stream entirely: hook_embed, blocks.*.hook_attn_out,
    blocks.*.hook_mlp_out."""
    positions: str = "all"
    """Token positions changed: all, prompt, generated, or START:STOP token indices."""
    max_new_tokens: int = 256
    """Most tokens generated per prompt."""
    temperature: float = 0.0
    """0 → greedy; > 0 → sampling (then give several seeds)."""
    top_p: float = 1.0
    """Nucleus sampling threshold (sampling only)."""
    seeds: tuple[int, ...] = (0,)
    """Sampling seeds; each prompt is generated once per seed (greedy runs take one seed)."""
    batch_size: int = 16
    """Prompts generated together (left-padded, one KV cache)."""
    stop_at_think_end: bool = True
    """Stop a generation after "</think>" (the thinking text is what is measured)."""
    stop_at_answer: bool = False
    """Decode past "</think>" to the answer line and stop once a final answer is stated ("answer
    is X" ended by a line break or full stop, or \\boxed{X}), so answer accuracy (the
    capability check: metrics answered, answered_correctly) is measured; backtracking is still
    counted on the thinking text. Needs stop_at_think_end = false and a max_new_tokens that lets
    most unsteered generations reach their answer."""
    device: str = "cpu"
    """cpu, cuda, cuda:N or auto."""
    dtype: Dtype = "float32"
    """Model precision: float32, bfloat16 or float16."""
    engine: Engine = "hf"
    """Generation engine: hf (our engine: mixed-condition continuous batches on the plain Hugging
    Face model) or vllm (the optional extra backtrack-toolkit[vllm]; positions all or START:STOP,
    hooks blocks.L.hook_resid_post; sampling reproducible per seed but not the hf engine's)."""
    perplexity: bool = True
    """Score every generation's perplexity under the unsteered model (coherence check)."""
    max_repetition: float = 0.5
    """A generation whose share of repeated token 4-grams exceeds this is flagged degenerate, unless
    degenerate_quantile calibrates the threshold on the unsteered run."""
    degenerate_quantile: float | None = 0.95
    """Calibrate the degenerate filter on the unsteered run: a generation is degenerate when its
    repetition exceeds this quantile of the unsteered generations' of the same model (so 5 % of
    unsteered text is flagged at 0.95, whatever the model's normal repetitiveness); None: use
    max_repetition as it is."""
    n_bootstrap: int = 2000
    """Bootstrap resamples (over prompts) for confidence intervals and paired tests."""
    confidence: float = 0.95
    """Confidence level of the intervals."""

    def __post_init__(self) -> None:
        self._check()

    def _check(self) -> None:
        _need(
            bool(self.models), "models is empty; name at least one model, e.g. models=reasoner-dir"
        )
        _need(
            not self.model_labels or len(self.model_labels) == len(self.models),
            f"model_labels has {len(self.model_labels)} names for {len(self.models)} models",
        )
        _need(len(set(self.labels)) == len(self.labels), f"model labels repeat: {self.labels}")
        _need(bool(self.directions_dir), "directions_dir is empty; point it at saved directions")
        _need(self.n_prompts is None or self.n_prompts > 0, "n_prompts must be positive or None")
        _need(self.chat_template in get_args(ChatTemplate), "chat_template: use auto, on, off")
        _need("{prompt}" in self.plain_template, "plain_template must contain {prompt}")
        _need(bool(self.seeds), "seeds is empty; give at least one seed")
        _need(
            self.temperature > 0 or len(self.seeds) == 1,
            f"seeds={self.seeds} with temperature=0 repeats identical greedy runs; sample "
            "(temperature > 0) or give one seed",
        )
        _need(self.max_new_tokens > 0 and self.batch_size > 0, "max_new_tokens, batch_size ≥ 1")
        _need(
            not (self.stop_at_answer and self.stop_at_think_end),
            "stop_at_answer needs stop_at_think_end = false (it would stop before the answer line)",
        )
        _need(bool(DEVICE_PATTERN.match(self.device)), f"device={self.device!r}: use cpu, cuda")
        _need(self.dtype in get_args(Dtype), f"dtype={self.dtype!r}: use {get_args(Dtype)}")
        _need(self.engine in get_args(Engine), f"engine={self.engine!r}: use hf or vllm")
        _need(0 < self.confidence < 1, f"confidence={self.confidence} must be in (0, 1)")
        _need(self.n_bootstrap >= 100, f"n_bootstrap={self.n_bootstrap}: use at least 100")
        _need(
            self.degenerate_quantile is None or 0 < self.degenerate_quantile < 1,
            f"degenerate_quantile={self.degenerate_quantile} must be in (0, 1) or none",
        )
        from experiments.steering.interventions.positions import parse_positions

        parse_positions(self.positions)

    @property
    def labels(self) -> tuple[str, ...]:
        """Result names of the models."""
        return self.model_labels or self.models

    def paired(self, a: dict[str, float], b: dict[str, float]) -> dict[str, Any] | None:
        """``a − b`` over the prompts both have, at this run's bootstrap settings, as JSON (None if
        they share no prompt); see :func:`activation_store.core.stats.compare_prompts`."""
        from activation_store.core.stats import compare_prompts

        result = compare_prompts(a, b, n_resamples=self.n_bootstrap, confidence=self.confidence)
        return None if result is None else dataclasses.asdict(result)

    def versus_group(
        self, a: dict[str, float], group: list[dict[str, float]], reference: dict[str, float]
    ) -> dict[str, Any] | None:
        """``a`` against the mean of ``group`` (e.g. the random directions) at this run's
        bootstrap settings: see :func:`activation_store.core.stats.versus_group`."""
        from activation_store.core.stats import versus_group

        return versus_group(
            a, group, reference, n_resamples=self.n_bootstrap, confidence=self.confidence
        )


@dataclass(frozen=True, kw_only=True)
class SweepConfig(RunSettings):
    """Steering sweep: each direction (and baseline) × α × model × seed, plus the unsteered run."""

    alphas: tuple[float, ...] = (0.0, 4.0, 8.0, 12.0, 16.0, -4.0, -8.0)
    """Steering strengths, in alpha_unit; 0 is the unsteered reference (always run)."""
    alpha_unit: AlphaUnit = "unit"
    """unit: α × unit vector; mean_resid_norm: α × the direction's mean residual norm × unit
    vector; raw: α × the stored vector (baselines then not norm-matched)."""
    n_random: int = 3
    """Norm-matched random directions added as baselines when directions_dir has none."""
    random_seed: int = 0
    """Seed of the first random direction (the others follow)."""
    token_baselines: tuple[str, ...] = ("Wait", "But")
    """Words whose embedding and unembedding rows (first model) are added as baselines when
    directions_dir has no embedding/unembedding directions."""
    groups: tuple[str, ...] = ()
    """Joint steering: groups of directions steered together, written a+b+c."""
    group_scale: GroupScale = "each"
    """each: every direction of a group at α; split: each at α/√k (same norm as one direction
    when they are orthogonal)."""

    def _check(self) -> None:
        super()._check()
        _need(bool(self.alphas), "alphas is empty; give at least one α, e.g. 0,4,8")
        try:
            object.__setattr__(self, "alphas", tuple(float(a) for a in self.alphas))
        except (TypeError, ValueError):
            raise ConfigError(f"alphas={self.alphas!r} must be numbers, e.g. 0,4,8") from None
        _need(self.alpha_unit in get_args(AlphaUnit), "alpha_unit: use unit, mean_resid_norm, raw")
        _need(self.n_random >= 0, f"n_random={self.n_random} must be ≥ 0")
        _need(all("+" in g for g in self.groups), "each group names ≥ 2 directions joined by +")


@dataclass(frozen=True, kw_only=True)
class AblationConfig(RunSettings):
    """Joint mediation: project out the first k directions (and each alone, and random subspaces)."""

    ks: tuple[int, ...] = (1, 2, 3)
    """Subspace sizes: ablate the first k directions together, for each k."""
    single: bool = True
    """Also ablate each direction alone."""
    n_random: int = 3
    """Random k-dimensional subspaces ablated for each k (the null distribution)."""
    random_seed: int = 0
    """Seed of the first random subspace (the others follow)."""
    modes: tuple[AblationMode, ...] = ("zero",)
    """zero: remove the span's component; mean: replace it by the mean activation's (a control:
    zero-ablating a span that holds much of the mean activation moves every token); each mode
    runs every subset and random subspace."""
    mean_direction: str = ""
    """The mean-activation direction (kind mean_activation, e.g. reasoner_L10_mean) in
    directions_dir that mean-ablation keeps; needed when modes has mean."""
    random_kinds: tuple[RandomKind, ...] = ("isotropic",)
    """Kinds of random k-subspaces (n_random of each per k and mode): isotropic (uniform) or
    variance_matched (the activations' variance along them equals that along the first k
    directions' span, within variance_tolerance; drawn from a Gaussian tilted towards the top or
    bottom principal directions, see experiments.steering.runs.subspaces); variance_matched
    needs store."""
    variance_tolerance: float = 0.05
    """Largest relative difference between a variance-matched subspace's projected variance and
    the ablated span's."""
    store: str = ""
    """Activation store (backtrack cache) holding the ablated model's activations at the
    directions' hook: their mean and covariance give variance-matched subspaces and each ablated
    span's share of the residual (summary: residual_share). Empty: neither."""
    store_model: str = ""
    """The ablated model's name in store (default: the first model's label)."""

    def _check(self) -> None:
        super()._check()
        _need(bool(self.ks) and min(self.ks) >= 1, f"ks={self.ks}: give sizes ≥ 1, e.g. 1,2,3")
        _need(bool(self.modes), "modes is empty; give zero, mean or both")
        _need(
            set(self.modes) <= set(get_args(AblationMode)),
            f"modes={self.modes}: choose from zero, mean",
        )
        _need(
            "mean" not in self.modes or bool(self.mean_direction),
            "modes has mean: name the mean-activation direction in mean_direction, e.g. "
            "reasoner_L10_mean",
        )
        _need(self.n_random >= 0, f"n_random={self.n_random} must be ≥ 0")
        _need(
            bool(self.random_kinds) and set(self.random_kinds) <= set(get_args(RandomKind)),
            f"random_kinds={self.random_kinds}: choose from isotropic, variance_matched",
        )
        _need(
            "variance_matched" not in self.random_kinds or bool(self.store),
            "random_kinds has variance_matched: point store at the activation store of the "
            "ablated model (backtrack cache)",
        )
        _need(
            0 < self.variance_tolerance < 1,
            f"variance_tolerance={self.variance_tolerance} must be in (0, 1)",
        )


CONFIG_KINDS: dict[str, type[RunSettings]] = {"sweep": SweepConfig, "ablation": AblationConfig}
