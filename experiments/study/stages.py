"""The steps of a study as ``backtrack`` command lines, one list per seed plus the final ones.

Each step is an ordinary command a researcher could type; the study runner only orders them,
skips the finished ones and records what ran. Every path lies in the study's output directory
``out``: ``seed{S}/traces.jsonl``, ``seed{S}/store.h5``, ``seed{S}/directions/``, ``seed{S}/probes/``,
``seed{S}/sae/``, ``seed{S}/sweep-s{S}/``, ``seed{S}/ablation-s{S}/``, then ``findings/`` and
``report/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from experiments.study.config import StudyConfig
from probes.naming import direction_name, token_tag


@dataclass(frozen=True)
class Step:
    """One command of the study."""

    id: str
    """Unique, e.g. ``seed0/cache-base``."""
    title: str
    """What it does, for progress lines."""
    argv: tuple[str, ...]
    """Arguments of ``backtrack`` (without the program name)."""
    resumable_out: str | None = None
    """A run directory the command continues (``--resume``) once it exists."""


def _csv(values: object) -> str:
    return ",".join(str(v) for v in values)  # type: ignore[attr-defined]


def _model_opts(config: StudyConfig) -> list[str]:
    return ["--device", config.device, "--dtype", config.dtype]


def direction_names(config: StudyConfig, seed: int) -> dict[str, str]:
    """Role → saved direction name at the steer layer (as ``backtrack directions`` names them)."""
    hook = config.steer_hook
    names = {
        "base_dom": direction_name("base", hook, "dom"),
        "reasoner_dom": direction_name("reasoner", hook, "dom"),
    }
    for i in range(config.n_random):
        names[f"random{i}"] = direction_name("base", hook, f"random{seed + i}")
    for word in config.token_baselines:
        for kind in config.token_baseline_kinds:
            names[f"{kind}-{word}"] = direction_name("base", hook, f"{kind}-{token_tag(word)}")
    return names


def ablation_names(config: StudyConfig) -> list[str]:
    """The ablation directions as saved names (``base_dom`` → ``base_L10_dom``)."""
    out = []
    for d in config.ablation_directions:
        model, sep, kind = d.partition("_")
        is_role = sep and model in ("base", "reasoner") and not kind.startswith("L")
        out.append(direction_name(model, config.steer_hook, kind) if is_role else d)
    return out


def seed_steps(config: StudyConfig, seed: int, out: Path) -> list[Step]:
    """Traces → store → labels → directions → probes → SAE → steering → ablation for one seed."""
    d = str(out / f"seed{seed}")
    traces, store = f"{d}/traces.jsonl", f"{d}/store.h5"
    hooks = _csv(config.hooks)
    steps = [
        Step(f"seed{seed}/traces", "reasoner traces on the derivation prompts", (
            "traces", "--model", config.reasoner, *_model_opts(config),
            "--prompts", config.prompts, "--split", "derivation",
            *(["--limit", str(config.n_trace_prompts)] if config.n_trace_prompts else []),
            "--max-new-tokens", str(config.trace_max_new_tokens),
            "--temperature", str(config.trace_temperature), "--batch-size", str(config.batch_size),
            "--sampling-seed", str(seed), "--out", traces,
        )),
    ]  # fmt: skip
    for key, model in (("base", config.base), ("reasoner", config.reasoner)):
        steps.append(Step(f"seed{seed}/cache-{key}", f"{key} activations into the store", (
            "cache", "--model", model, *_model_opts(config), "--tokens", traces, "--out", store,
            "--hooks", hooks, "--name", key, "--resume",
        )))  # fmt: skip
    names = direction_names(config, seed)
    steps += [
        Step(f"seed{seed}/label", "keyword labels of the traces, into the store", (
            "label", "--traces", traces, "--labeller", "keyword", "--out", f"{d}/labels.jsonl",
            "--store", store, "--overwrite-labels",
        )),
        Step(f"seed{seed}/directions", "difference-of-means directions and baselines", (
            "directions", store, "--out", f"{d}/directions", "--models", "base,reasoner",
            "--hooks", hooks, f"--offsets={config.window}", "--n-random", str(config.n_random),
            "--seed", str(seed), "--min-events", str(config.min_events),
            *(["--tokens", _csv(config.token_baselines)] if config.token_baselines else ["--no-token-baselines"]),
            *_model_opts(config),
        )),
        Step(f"seed{seed}/probes", "probes for upcoming backtracking per layer and offset", (
            "probe", store, "--out", f"{d}/probes", "--models", _csv(config.probe_models),
            "--layers", _csv(config.layers), f"--offsets={config.probe_offsets}",
            "--seed", str(seed), "--min-events", str(config.min_events), "--device", config.device,
            "--max-negatives", str(config.probe_max_negatives),
            "--n-bootstrap", str(config.probe_n_bootstrap), "--n-shuffles", str(config.probe_n_shuffles),
            "--backend", "torch" if config.device.startswith("cuda") else "sklearn",
        )),
    ]  # fmt: skip
    if config.sae is not None:
        steps.append(Step(f"seed{seed}/sae", "SAE decomposition of the base-derived direction", (
            "decompose", "--direction", f"{d}/directions/{names['base_dom']}.safetensors",
            "--sae", config.sae, "--store", store, "--out", f"{d}/sae", "--model", "base",
            "--compare-model", "reasoner", "--seed", str(seed), "--no-umap",
            "--device", config.device,
        )))  # fmt: skip
    steer = [
        "--models", f"{config.reasoner},{config.base}", "--model-labels", "reasoner,base",
        "--directions-dir", f"{d}/directions", "--prompts", config.prompts,
        "--split", "evaluation", "--n-prompts", str(config.n_steer_prompts),
        "--max-new-tokens", str(config.steer_max_new_tokens),
        "--temperature", str(config.steer_temperature), "--seeds", str(seed),
        "--batch-size", str(config.batch_size), "--device", config.device, "--dtype", config.dtype,
        "--no-progress", "--perplexity" if config.perplexity else "--no-perplexity",
    ]  # fmt: skip
    steps.append(Step(f"seed{seed}/sweep", "steering sweep: reasoner and base (control) with baselines", (
        "steer", "sweep", "--out", f"{d}/sweep-s{seed}", *steer,
        "--directions", _csv(names.values()), f"--alphas={_csv(config.alphas)}",
        "--alpha-unit", "mean_resid_norm", "--random-seed", str(seed),
    ), resumable_out=f"seed{seed}/sweep-s{seed}"))  # fmt: skip
    ablate = [a for a in steer]
    ablate[ablate.index("--models") + 1] = config.reasoner
    ablate[ablate.index("--model-labels") + 1] = "reasoner"
    steps.append(Step(f"seed{seed}/ablation", "joint-mediation ablation vs random subspaces", (
        "steer", "ablate", "--out", f"{d}/ablation-s{seed}", *ablate,
        "--directions", _csv(ablation_names(config)), "--ks", _csv(config.ablation_ks),
        "--n-random", str(config.ablation_n_random), "--random-seed", str(seed),
    ), resumable_out=f"seed{seed}/ablation-s{seed}"))  # fmt: skip
    return steps


def final_steps(config: StudyConfig, out: Path) -> list[Step]:
    """The findings over all seeds, then the report (the first seed's runs in detail)."""
    first = str(out / f"seed{config.seeds[0]}")
    report = [
        "report", "--out", str(out / "report"), f"{first}/sweep-s{config.seeds[0]}",
        f"{first}/ablation-s{config.seeds[0]}", "--probes", f"{first}/probes",
        "--findings", str(out / "findings"),
    ]  # fmt: skip
    if config.sae is not None:
        report += ["--sae", f"{first}/sae"]
    return [
        Step("findings", "the four questions over all seeds", ("study", "findings", str(out))),
        Step("report", "the HTML report", tuple(report)),
    ]  # fmt: skip


def all_steps(config: StudyConfig, out: Path) -> list[Step]:
    """Every step of the study writing under ``out``, in order."""
    return [s for seed in config.seeds for s in seed_steps(config, seed, out)] + final_steps(
        config, out
    )
