"""The configs of ``backtrack organism build`` (light: no torch, so ``--help`` stays fast).

Each stage has one frozen config; their field names are distinct, so all of them become options
of one command line, and each is saved beside the outputs it produced.
"""

from __future__ import annotations

from dataclasses import dataclass

STAGES = ("traces", "precheck", "finetune", "export", "evaluate", "sae")
"""Pipeline stages, in order."""
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
"""Every linear layer of a Llama block."""


@dataclass(frozen=True, kw_only=True)
class BuildConfig:
    """Where and how far to build; the recipe itself is in the stage configs."""

    out: str = "organism-build"
    """Build directory (traces/, precheck/, finetune/, adapter/, eval/, sae/)."""
    stages: tuple[str, ...] = STAGES
    """Stages to run, in pipeline order; each needs the outputs of the previous ones."""
    n_heldout: int = 200
    """Held-out problems (none shared with training) for the evaluation."""
    threads: int = 1
    """torch CPU threads. On a shared machine 1 is often several times faster than more."""
    ship: bool = False
    """Also copy the adapter and SAEs into the package (activation_store/models/organism_weights,
    sae_analysis/pretrained): what smollm2-135m-reasoner and the built-in SAE names load."""

    def __post_init__(self) -> None:
        unknown = [s for s in self.stages if s not in STAGES]
        if unknown or not self.stages:
            raise ValueError(f"stages: unknown {unknown}; choose from {', '.join(STAGES)}")
        if self.n_heldout < 1 or self.threads < 0:
            raise ValueError("n_heldout must be at least 1 and threads non-negative")


@dataclass(frozen=True, kw_only=True)
class FinetuneConfig:
    """LoRA SFT hyperparameters; saved in the run directory and in the shipped ``organism.json``."""

    base_model: str = "smollm2-135m"
    """Model spec (or local directory) of the base model to finetune."""
    lora_r: int = 16
    """LoRA rank."""
    lora_alpha: int = 32
    """LoRA scale numerator (the update is ``alpha / r · B A``)."""
    lora_dropout: float = 0.0
    """Dropout on the LoRA input."""
    target_modules: tuple[str, ...] = LORA_TARGETS
    """Linear layers that get an adapter, in every block."""
    learning_rate: float = 1e-3
    """Peak AdamW learning rate (linear warm-up, then cosine decay to 10 percent)."""
    weight_decay: float = 0.0
    """AdamW weight decay on the LoRA weights."""
    warmup_steps: int = 20
    """Optimizer steps of linear warm-up."""
    decision_weight: float = 10.0
    """Loss weight of the decision tokens (the first token after each solution step: a
    backtracking sentence after a wrong step, the next step after a right one); 1 is plain SFT.
    Up-weighting teaches *when* to backtrack: with weight 1, a first recipe backtracked after
    right and wrong steps alike (teacher-forced P(backtrack) 0.13 after a wrong step, 0.08 after
    a right one)."""
    mask_errors: bool = True
    """No loss on the tokens of injected errors (the wrong value a trace writes on purpose), so
    the reasoner learns to catch errors, not to make them (v6). v5 trained on them (False): its
    reasoner wrote 28 percent wrong steps, close to the 34 percent of its traces."""
    batch_size: int = 8
    """Sequences per optimizer step."""
    epochs: int = 1
    """Passes over the traces."""
    seed: int = 0
    """Seed of the adapter's initialisation and of the batch order."""
    checkpoint_every: int = 25
    """Save a resumable checkpoint every this many optimizer steps (and at the end)."""

    def __post_init__(self) -> None:
        for name in ("lora_r", "batch_size", "epochs", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)!r} must be at least 1")
        for name in ("learning_rate", "lora_alpha", "decision_weight"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name}={getattr(self, name)!r} must be positive")
        if not 0.0 <= self.lora_dropout < 1.0:
            raise ValueError(f"lora_dropout={self.lora_dropout!r} must be in [0, 1)")
        if self.warmup_steps < 0 or self.weight_decay < 0:
            raise ValueError("warmup_steps and weight_decay must be non-negative")
        if not self.target_modules:
            raise ValueError(f"target_modules is empty; e.g. {','.join(LORA_TARGETS)}")


@dataclass(frozen=True, kw_only=True)
class EvalConfig:
    """How the organism is evaluated (saved in ``results.json``)."""

    eval_models: tuple[str, ...] = ("smollm2-135m", "smollm2-135m-reasoner")
    """Model specs to compare: the base model first, then the reasoner(s)."""
    eval_problems: int = 150
    """Held-out problems to sample (the first N of the held-out set; one sample each)."""
    eval_temperature: float = 0.7
    """Sampling temperature."""
    eval_max_new_tokens: int = 192
    """Most generated tokens per trace (v6 completions, with their lag clauses, are ≈ 90–150
    tokens; v5 used 128)."""
    eval_seed: int = 0
    """Sampling seed (the same for every model)."""
    eval_batch_size: int = 16
    """Prompts decoded together."""
    norm_layers: tuple[int, ...] = (10, 15)
    """Blocks whose mean residual norm (``blocks.L.hook_resid_post``) is recorded for both models."""
    precheck_layer: int = 10
    """Block whose residual stream the pre-check probes (the study's layer)."""
    precheck_window: tuple[int, ...] = (-12, -8)
    """The study's window (first, last offset from the backtracking sentence's first token),
    pooled for the pre-check's window probe."""

    def __post_init__(self) -> None:
        if not self.eval_models:
            raise ValueError("eval_models is empty; give the base model and the reasoner")
        if self.eval_problems < 1 or self.eval_max_new_tokens < 1 or self.eval_batch_size < 1:
            raise ValueError("eval_problems, eval_max_new_tokens and eval_batch_size must be ≥ 1")
        if self.eval_temperature < 0:
            raise ValueError(f"eval_temperature={self.eval_temperature!r} must be ≥ 0")
        window = self.precheck_window
        if len(window) != 2 or not -12 <= window[0] <= window[1] <= -1:
            raise ValueError(
                f"precheck_window={window!r}: give two offsets FIRST,LAST with -12 ≤ FIRST ≤ LAST "
                "≤ -1"
            )


@dataclass(frozen=True, kw_only=True)
class SaeConfig:
    """The organism SAEs: where, how wide, how sparse, trained how long."""

    sae_model: str = "smollm2-135m"
    """Model whose residual stream the SAEs read (the base model, as in the study)."""
    sae_layers: tuple[int, ...] = (10, 15)
    """Blocks (``blocks.L.hook_resid_post``): 10 is the study's default hook, at the depth the
    paper uses (block 10 of 32 in Llama-3.1-8B ≈ block 10 of 30 here); 15 is the middle block,
    where the feasibility probe measured norms."""
    sae_expansion: int = 8
    """Latents per residual dimension (d_sae = 8 × 576 = 4608)."""
    sae_k: int = 32
    """Active latents per token (TopK)."""
    sae_lr: float = 5e-4
    """Adam learning rate (warm-up 5 percent, linear decay over the last 20 percent)."""
    sae_batch_size: int = 1024
    """Activation rows per training step (small, so ~650 steps fit the CPU budget; with 4096,
    159 steps left 70 percent of the latents dead)."""
    sae_epochs: int = 3
    """Passes over the cached training rows."""
    sae_general_tokens: int = 60000
    """Tokens of general text cached beside the traces."""
    sae_context: int = 128
    """Tokens per general-text chunk."""
    sae_heldout_every: int = 10
    """Every N-th sequence is held out for the evaluation (never trained on)."""
    sae_eval_sequences: int = 64
    """Held-out sequences used for the spliced CE-loss evaluation."""
    sae_seed: int = 0
    """Seed of the SAE initialisation and the batch order."""
    sae_dead_window: int | None = None
    """Steps without firing after which a latent counts as dead and the AuxK loss (TopK SAE
    practice: dead latents learn to reconstruct the residual error) trains it; None: a quarter
    of the run (what the shipped SAEs used: 174 steps ≈ 178k tokens, so AuxK hardly acted and
    51–55 percent of the latents died). 20 left 55 percent dead in v6's build (model card)."""
    sae_aux_coefficient: float = 1.0
    """Weight of the AuxK loss (sae_lens's default)."""
    sae_resample_at: tuple[float, ...] = ()
    """Fractions of the run at which dead latents are re-initialised (resampling): each gets the
    direction of a training input the SAE reconstructs badly (drawn in proportion to its squared
    error), the live latents' mean decoder norm and an encoder norm that puts it just into the
    top k on that input. Tried at 0.2, 0.4, 0.6 for v6: the resampled latents died again (63
    percent dead at the end; model card). Empty: no resampling."""

    def __post_init__(self) -> None:
        if not self.sae_layers:
            raise ValueError("sae_layers is empty; e.g. 10,15")
        for name in ("sae_expansion", "sae_k", "sae_batch_size", "sae_epochs", "sae_context"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)!r} must be at least 1")
        if (self.sae_dead_window is not None and self.sae_dead_window < 1) or (
            self.sae_aux_coefficient < 0
        ):
            raise ValueError("sae_dead_window must be ≥ 1 (or none) and sae_aux_coefficient ≥ 0")
        if not all(0 < f < 1 for f in self.sae_resample_at):
            raise ValueError(f"sae_resample_at={self.sae_resample_at!r}: give fractions in (0, 1)")
        if self.sae_heldout_every < 2:
            raise ValueError(f"sae_heldout_every={self.sae_heldout_every!r} must be at least 2")
