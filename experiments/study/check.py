"""Dry run of a study: is the config runnable here, and what will it cost? No weights are loaded.

>>> from experiments.study.check import check_study
>>> from experiments.study.config import load_study_config
>>> result = check_study(load_study_config("llama31_8b_r1_distill"), out="runs/llama")
>>> print("\\n".join(result.lines()))          # problems, warnings, time and disk per step

Checked: both models (spec names from the spec table; directories as loading checks them: config.json,
weights, tokenizer files) and that every layer exists in both, with equal width, depth and vocabulary
(the base model is run on the reasoner's token ids); the SAE (``cfg.json``: ``d_in`` = the base
model's width, hook = ``blocks.{steer_layer}.hook_resid_post``, the model it was trained on); the
prompts; the device; the disk free under ``out`` against the estimate; GPU memory when a GPU is
visible. ``backtrack study check CONFIG`` and ``backtrack study run CONFIG --dry-run`` print
:meth:`StudyCheck.lines` and exit 2 when :attr:`StudyCheck.ok` is false.

A requested GPU that this machine lacks is a warning by default (a dry run may be made on a machine
other than the one that will run the study) and a problem with ``require_device=True``, which a run
about to start passes.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from activation_store.core.errors import InputError, ToolkitError
from experiments.study.config import StudyConfig
from experiments.study.costs import MEASURED, StepEstimate, device_class, estimate_steps, workload
from experiments.study.shapes import ModelShape, Reading, SaeShape, read_model, read_sae

DISK_MARGIN = 0.9
"""Warn when the estimate exceeds this share of the free disk."""


@dataclass(frozen=True, kw_only=True)
class StudyCheck:
    """The outcome of :func:`check_study`."""

    name: str
    """The study's name."""
    problems: tuple[str, ...]
    """Reasons the study cannot run as configured (each one line)."""
    warnings: tuple[str, ...]
    """Things to look at that do not stop it."""
    estimates: tuple[StepEstimate, ...]
    """Time and disk per step, all seeds together."""
    notes: tuple[str, ...] = ()
    """How the estimates were made, and what was found."""
    free_bytes: int | None = None
    """Free disk where the study writes (None: unknown)."""

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def total_bytes(self) -> int:
        return sum(e.bytes for e in self.estimates)

    @property
    def total_seconds(self) -> float:
        """Sum of the estimated steps (steps without an estimate count 0)."""
        return sum(e.seconds or 0.0 for e in self.estimates)

    def lines(self) -> list[str]:
        """A readable report: the estimate table, notes, warnings, problems and the verdict."""
        out = [f"study {self.name!r}: time and disk per step (all seeds)", ""]
        if not self.estimates:
            out.append("  no estimates (see the warnings)")
        else:
            out += self._table()
        for title, items in (("notes", self.notes), ("warnings", self.warnings)):
            if items:
                out += ["", f"{title}:", *(f"  - {item}" for item in items)]
        if self.problems:
            out += ["", f"problems ({len(self.problems)}):", *(f"  - {p}" for p in self.problems)]
        out += ["", "ok: the config can run here" if self.ok else "NOT OK: fix the problems above"]
        return out

    def _table(self) -> list[str]:
        out = [f"  {'step':<16}{'tokens':>14}{'time':>10}{'disk':>11}  basis"]
        for e in self.estimates:
            tokens = f"{e.tokens:,}" if e.tokens else "-"
            seconds = _duration(e.seconds) if e.seconds is not None else "?"
            out.append(
                f"  {e.step:<16}{tokens:>14}{seconds:>10}{_size(e.bytes):>11}  {e.basis}".rstrip()
            )
        unknown = [e.step for e in self.estimates if e.seconds is None]
        free = f"free: {_size(self.free_bytes)}" if self.free_bytes is not None else ""
        extra = "; ".join(
            x for x in (free, f"time excludes {', '.join(unknown)}" if unknown else "") if x
        )
        out.append(
            f"  {'total':<16}{'':>14}{_duration(self.total_seconds):>10}"
            f"{_size(self.total_bytes):>11}  {extra}".rstrip()
        )
        return out


@dataclass
class _Found:
    """What the checks collect as they go."""

    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, prefix: str, reading: Reading[Any]) -> None:
        self.problems += [f"{prefix}: {p}" for p in reading.problems]
        self.warnings += [f"{prefix}: {w}" for w in reading.warnings]


def check_study(
    config: StudyConfig, *, out: str | Path = ".", require_device: bool = False
) -> StudyCheck:
    """Validate ``config`` without loading weights, and estimate its time and disk per step.

    ``out`` is where the study would write (its free disk is compared with the estimate);
    ``require_device``: a missing GPU is a problem (a run is about to start) instead of a warning.
    """
    import torch

    found = _Found()
    shapes = _check_models(config, found)
    _check_sae(config, shapes, found)
    counts = _prompt_counts(config, found.problems, found.warnings)
    cuda = torch.cuda.is_available()
    device_issue = _device_issue(config.device, cuda)
    if device_issue:
        (found.problems if require_device else found.warnings).append(device_issue)
    if config.engine == "vllm":  # the steering runs' own refusal, before any step runs
        from experiments.steering.interventions.vllm import check_vllm_positions

        try:
            check_vllm_positions(config.ablation_positions, config.ablation_hooks)
        except InputError as err:
            found.problems.append(f"ablation: {err}")
    if config.dtype == "float16" and config.device == "cpu":
        found.warnings.append(
            "dtype float16 on the CPU is slow and may be inaccurate; use bfloat16"
        )
    costs = MEASURED.get(device_class(config.device, cuda))
    if costs is None:
        found.warnings.append(f"no measured per-token costs for device {config.device!r}: no times")
    estimates: list[StepEstimate] = []
    shape = shapes.get("reasoner") or shapes.get("base")
    if shape is not None and counts is not None:
        estimates, cost_notes = estimate_steps(config, shape, workload(config, *counts), costs)
        found.notes += [*cost_notes, _memory_note(config, shape, cuda, found.problems)]
    else:
        found.warnings.append("no estimates: the models' shapes or the prompts could not be read")
    free = _free_bytes(Path(out))
    need = sum(e.bytes for e in estimates)
    if free is not None and need > free:
        found.problems.append(f"disk: the study needs about {_size(need)} but {out} has "
                              f"{_size(free)} free")  # fmt: skip
    elif free is not None and need > DISK_MARGIN * free:
        found.warnings.append(
            f"disk: the study needs about {_size(need)} of the {_size(free)} free"
        )
    return StudyCheck(
        name=config.name,
        problems=tuple(found.problems),
        warnings=tuple(found.warnings),
        estimates=tuple(estimates),
        notes=tuple(found.notes),
        free_bytes=free,
    )


def _check_models(config: StudyConfig, found: _Found) -> dict[str, ModelShape]:
    """Both models' shapes (those that could be read); layers and base/reasoner agreement."""
    shapes: dict[str, ModelShape] = {}
    for role, name in (("reasoner", config.reasoner), ("base", config.base)):
        reading = read_model(name)
        found.add(role, reading)
        if reading.value is not None:
            shapes[role] = reading.value
            found.notes.append(f"{role}: {_describe_model(reading.value)}")
    found.problems += _layer_problems(config, shapes) + _pair_problems(shapes)
    found.problems += _token_baseline_problems(config, shapes)
    return shapes


def _check_sae(config: StudyConfig, shapes: dict[str, ModelShape], found: _Found) -> None:
    if config.sae is None:
        found.warnings.append("sae = none: the SAE decomposition is skipped")
        return
    sae = read_sae(config.sae)
    found.add("sae", sae)
    if sae.value is not None:
        found.notes.append(f"sae: {_describe_sae(sae.value)}")
        problems, warnings = _sae_findings(
            config, sae.value, shapes.get("base"), shapes.get("reasoner")
        )
        found.problems += problems
        found.warnings += warnings


def _layer_problems(config: StudyConfig, shapes: dict[str, ModelShape]) -> list[str]:
    out = []
    for role, shape in shapes.items():
        bad = [layer for layer in config.layers if not 0 <= layer < shape.n_layers]
        if bad:
            out.append(
                f"layers {bad} do not exist in the {role} model ({shape.n_layers} blocks: "
                f"0..{shape.n_layers - 1}); change layers (and steer_layer)"
            )
    return out


def _token_baseline_problems(config: StudyConfig, shapes: dict[str, ModelShape]) -> list[str]:
    """Tied embeddings give one token baseline per word (``embed-WORD``), so asking to steer with
    ``unembed-WORD`` too would fail at the sweep, after everything before it has run."""
    base = shapes.get("base")
    if base is None or not base.tied_embeddings or "unembed" not in config.token_baseline_kinds:
        return []
    return [
        f"the base model {base.name!r} ties its embedding and unembedding, so each word has one "
        "token baseline (embed-WORD); drop unembed from token_baseline_kinds"
    ]


def _pair_problems(shapes: dict[str, ModelShape]) -> list[str]:
    if len(shapes) < 2:
        return []
    r, b = shapes["reasoner"], shapes["base"]
    out = []
    for what, rv, bv in (
        ("d_model", r.d_model, b.d_model),
        ("blocks", r.n_layers, b.n_layers),
        ("vocab_size", r.vocab_size, b.vocab_size),
    ):
        if rv != bv:
            out.append(
                f"base and reasoner differ in {what} ({bv} vs {rv}); the study compares one "
                "model with its own finetune (same shapes and tokenizer)"
            )
    return out


def _sae_findings(
    config: StudyConfig, sae: SaeShape, base: ModelShape | None, reasoner: ModelShape | None
) -> tuple[list[str], list[str]]:
    """(problems, warnings) of the SAE against the base model and the steer layer."""
    problems, warnings = [], []
    if base is not None and sae.d_in is not None and sae.d_in != base.d_model:
        problems.append(
            f"sae: d_in {sae.d_in} ≠ the base model's d_model {base.d_model}; use an SAE "
            "trained on the base model's residual stream"
        )
    if sae.hook_name is None:
        warnings.append(f"sae: {sae.name} records no hook; cannot check it is for layer "
                        f"{config.steer_layer}")  # fmt: skip
    elif sae.hook_name != config.steer_hook:
        problems.append(
            f"sae: trained on {sae.hook_name}, but the study decomposes at {config.steer_hook}; "
            f"use the SAE of layer {config.steer_layer} or change steer_layer"
        )
    if sae.model_name and base is not None:
        if (
            reasoner is not None
            and _same_model(sae.model_name, reasoner.name)
            and not _same_model(sae.model_name, base.name)
        ):
            warnings.append(
                f"sae: trained on {sae.model_name} (the reasoner), but the study decomposes the "
                "base model's direction"
            )
        elif not _same_model(sae.model_name, base.name) and base.source != "spec":
            warnings.append(
                f"sae: trained on {sae.model_name!r}; is that the base model {base.name!r}? "
                "(names differ; the decomposition's preflight checks reconstruction)"
            )
    if sae.normalize_activations == "expected_average_only_in":
        warnings.append(
            f"sae: {sae.name} expects inputs rescaled by a norm factor that is not stored with it; "
            "fold it in (sae.fold_activation_norm_scaling_factor) before saving, or the preflight "
            "fails"
        )
    return problems, warnings


def _same_model(sae_model: str, model: str) -> bool:
    """Whether an SAE's model name (``meta-llama/Llama-3.1-8B``) names a model directory or spec."""

    def key(text: str) -> str:
        return re.sub(r"[^a-z0-9]", "", Path(text.rstrip("/")).name.lower())

    return key(sae_model) == key(model)


def _prompt_counts(
    config: StudyConfig, problems: list[str], warnings: list[str]
) -> tuple[int, float] | None:
    """(derivation prompts, mean prompt chars); checks both splits are big enough."""
    from experiments.prompts import load_prompts

    try:
        derivation = load_prompts(config.prompts, split="derivation")
        evaluation = load_prompts(config.prompts, split="evaluation")
    except ToolkitError as err:
        problems.append(f"prompts: {err}")
        return None
    if config.n_trace_prompts and config.n_trace_prompts > len(derivation):
        warnings.append(f"n_trace_prompts {config.n_trace_prompts} > the {len(derivation)} "
                        f"derivation prompts of {config.prompts}; all are traced")  # fmt: skip
    if config.n_steer_prompts > len(evaluation):
        warnings.append(f"n_steer_prompts {config.n_steer_prompts} > the {len(evaluation)} "
                        f"evaluation prompts of {config.prompts}; all are used")  # fmt: skip
    chars = sum(len(p.prompt) for p in derivation) / len(derivation)
    return len(derivation), chars


def _device_issue(device: str, cuda: bool) -> str | None:
    if device.startswith("cuda") and not cuda:
        return f"device: {device} requested but no CUDA GPU is visible on this machine"
    if device == "auto" and not cuda:
        return "device: auto resolves to the CPU here (no CUDA GPU is visible)"
    return None


def _memory_note(config: StudyConfig, shape: ModelShape, cuda: bool, problems: list[str]) -> str:
    """One model at a time is loaded: weights + the KV cache of a full generation batch."""
    import torch

    weight_bytes = shape.n_params * (4 if config.dtype == "float32" else 2)
    longest = max(config.trace_max_new_tokens, config.steer_max_new_tokens) + 256
    kv = config.batch_size * longest * shape.kv_bytes_per_token
    need = weight_bytes + kv
    note = (
        f"memory: one model at a time, {_size(weight_bytes)} of weights + {_size(kv)} of KV cache "
        f"(batch {config.batch_size} × ≤{longest} tokens) ≈ {_size(need)}"
    )
    if cuda and config.device.startswith(("cuda", "auto")):
        index = int(config.device.partition(":")[2] or 0)
        if index < torch.cuda.device_count():
            have = torch.cuda.get_device_properties(index).total_memory
            note += f"; this GPU has {_size(have)}"
            if need > have:
                problems.append(
                    f"memory: {_size(need)} needed but the GPU has {_size(have)}; lower batch_size"
                )
    return note


def _free_bytes(out: Path) -> int | None:
    """Free disk on the file system that holds ``out`` (or its nearest existing parent)."""
    path = out.expanduser().resolve()
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


def _describe_model(shape: ModelShape) -> str:
    return (
        f"{shape.name} ({shape.architecture}, {shape.n_layers} blocks, d_model {shape.d_model}, "
        f"{shape.n_params / 1e9:.3g}B parameters; from {shape.source})"
    )


def _describe_sae(sae: SaeShape) -> str:
    return (
        f"{sae.name} (d_in {sae.d_in or '?'}, d_sae {sae.d_sae or '?'}, hook "
        f"{sae.hook_name or '?'}, model {sae.model_name or '?'}; from {sae.source})"
    )


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"
