"""The steps of a study as ``backtrack`` commands, one list per seed plus the final ones.

Each step is an ordinary command a researcher could type; the study runner only orders them,
skips the finished ones and records what ran. A step is built from the same config objects the
command parses (:class:`~experiments.steering.runs.config.SweepConfig`,
:class:`~probes.config.ProbeConfig`, …) and turned into options by
:func:`activation_store.core.configs.to_argv`, so a renamed option cannot drift from the study;
only paths and the few options that are no config field are written here. Every path lies in the
study's output directory ``out``: ``seed{S}/traces.jsonl``, ``seed{S}/store.h5``,
``seed{S}/directions/``, ``seed{S}/probes/``, ``seed{S}/sae/``, ``seed{S}/sweep-s{S}/``,
``seed{S}/ablation-s{S}/``, then ``findings/`` and ``report/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from activation_store.cache_config import CacheConfig
from activation_store.core.configs import to_argv
from activation_store.events import parse_offsets
from activation_store.models.config import ModelConfig
from experiments.generation.config import GenerationConfig
from experiments.steering.runs.config import AblationConfig, SweepConfig
from experiments.steering.runs.decisions import DecisionConfig
from experiments.study.config import StudyConfig
from experiments.traces.config import TraceConfig
from probes.config import DirectionConfig, ProbeConfig
from probes.naming import direction_name, random_name, token_name
from sae_analysis.config import DecomposeConfig

if TYPE_CHECKING:
    from _typeshed import DataclassInstance


@dataclass(frozen=True)
class Step:
    """One command of the study: ``backtrack COMMAND ARGS CONFIG-OPTIONS``."""

    id: str
    """Unique, e.g. ``seed0/cache-base``."""
    title: str
    """What it does, for progress lines."""
    command: tuple[str, ...]
    """The subcommand, e.g. ``("steer", "sweep")``."""
    args: tuple[str, ...] = ()
    """Positional arguments and the options that are no config field (paths, mostly)."""
    configs: tuple[DataclassInstance, ...] = ()
    """The configs the command parses its other options into."""
    resumable_out: str | None = None
    """A run directory the command continues (``--resume``) once it exists."""
    after: tuple[str, ...] | None = None
    """Ids of the steps whose outputs it reads; ``study run --jobs N`` starts it as soon as they
    are done. None: every earlier step of its seed (the safe default for a new step). A step
    new to the stages has no record in a finished study, so every finished step reading it is
    refused as stale there: a new step that the later ones do not read should say so here."""

    @property
    def argv(self) -> tuple[str, ...]:
        """Arguments of ``backtrack`` (without the program name)."""
        options = [option for config in self.configs for option in to_argv(config)]
        return (*self.command, *self.args, *options)


def direction_names(config: StudyConfig, seed: int) -> dict[str, str]:
    """Role → saved direction name at the steer layer (as ``backtrack directions`` names them)."""
    hook = config.steer_hook
    names = {
        "base_dom": direction_name("base", hook, "dom"),
        "reasoner_dom": direction_name("reasoner", hook, "dom"),
    }
    for i, random_seed in enumerate(random_seeds(config, seed)):
        names[f"random{i}"] = random_name("base", hook, random_seed)
    for word in config.token_baselines:
        for kind in config.token_baseline_kinds:
            names[f"{kind}-{word}"] = token_name("base", hook, kind, word)
    return names


def sweep_direction_names(config: StudyConfig, seed: int) -> dict[str, str]:
    """:func:`direction_names` less the random directions beyond ``sweep_n_random``: what the
    free-generation sweep steers with."""
    names = direction_names(config, seed)
    if config.sweep_n_random is None:
        return names
    randoms = [k for k in names if k.startswith("random")]
    dropped = set(randoms[config.sweep_n_random :])
    return {k: n for k, n in names.items() if k not in dropped}


def random_seeds(config: StudyConfig, seed: int) -> range:
    """The seeds of study seed ``seed``'s random directions: ``seed × n_random`` onwards, so no
    two seeds of a study share one (each seed's baselines are independent draws)."""
    return range(seed * config.n_random, (seed + 1) * config.n_random)


def ablation_names(config: StudyConfig) -> list[str]:
    """The ablation directions as saved names (``base_dom`` → ``base_L10_dom``)."""
    out = []
    for d in config.ablation_directions:
        model, sep, kind = d.partition("_")
        is_role = sep and model in ("base", "reasoner") and not kind.startswith("L")
        out.append(direction_name(model, config.steer_hook, kind) if is_role else d)
    return out


def _model(config: StudyConfig, model: str) -> ModelConfig:
    return ModelConfig(model=model, device=config.device, dtype=config.dtype)  # type: ignore[arg-type]


def seed_steps(config: StudyConfig, seed: int, out: Path) -> list[Step]:
    """Traces → store → labels → directions → probes → SAE → steering → ablation for one seed."""
    d = str(out / f"seed{seed}")
    traces, store = f"{d}/traces.jsonl", f"{d}/store.h5"
    steps = [
        _trace_step(
            config,
            seed,
            "traces",
            "reasoner traces on the derivation prompts",
            "derivation",
            config.n_trace_prompts,
            traces,
        )
    ]
    for key, model in (("base", config.base), ("reasoner", config.reasoner)):
        steps.append(
            Step(
                f"seed{seed}/cache-{key}",
                f"{key} activations into the store",
                ("cache",),
                ("--tokens", traces, "--out", store),
                (_model(config, model), CacheConfig(hooks=config.hooks, name=key, resume=True)),
            )
        )
    steps += [
        Step(
            f"seed{seed}/label",
            "keyword labels of the traces, into the store",
            ("label",),
            (
                "--traces",
                traces,
                "--labeller",
                "keyword",
                "--out",
                f"{d}/labels.jsonl",
                "--store",
                store,
                "--overwrite-labels",
            ),
        ),
        Step(
            f"seed{seed}/directions",
            "difference-of-means directions and baselines",
            ("directions",),
            (store, "--out", f"{d}/directions"),
            (_direction_config(config, seed),),
        ),
        Step(
            f"seed{seed}/probes",
            "probes for upcoming backtracking per layer and offset",
            ("probe",),
            (store, "--out", f"{d}/probes"),
            (probe_config(config, seed),),
            after=(f"seed{seed}/label",),
        ),
    ]
    if config.sae is not None:
        names = direction_names(config, seed)
        steps.append(
            Step(
                f"seed{seed}/sae",
                "SAE decomposition of the base-derived direction",
                ("decompose",),
                (
                    "--direction",
                    f"{d}/directions/{names['base_dom']}.safetensors",
                    "--sae",
                    config.sae,
                    "--store",
                    store,
                    "--out",
                    f"{d}/sae",
                ),
                (
                    DecomposeConfig(
                        model="base",
                        compare_model="reasoner",
                        seed=seed,
                        umap=False,
                        device=config.device,
                        on_poor_fit="record",
                    ),
                ),
                after=(f"seed{seed}/directions",),
            )
        )
    if config.decision_points:
        steps += _decision_steps(config, seed, d)
    steps += [
        Step(
            f"seed{seed}/sweep",
            "steering sweep: reasoner and base (control) with baselines",
            ("steer", "sweep"),
            ("--out", f"{d}/sweep-s{seed}", "--no-progress"),
            (_sweep_config(config, seed, d),),
            resumable_out=f"seed{seed}/sweep-s{seed}",
            after=(f"seed{seed}/directions",),
        ),
        Step(
            f"seed{seed}/ablation",
            "joint-mediation ablation vs random subspaces",
            ("steer", "ablate"),
            ("--out", f"{d}/ablation-s{seed}", "--no-progress"),
            (_ablation_config(config, seed, d),),
            resumable_out=f"seed{seed}/ablation-s{seed}",
            after=(f"seed{seed}/directions",),  # and the store, complete once labelled
        ),
    ]
    return steps


def _trace_step(
    config: StudyConfig,
    seed: int,
    name: str,
    title: str,
    split: str,
    limit: int | None,
    out: str,
    *,
    after: tuple[str, ...] | None = None,
) -> Step:
    """The reasoner's sampled traces on ``limit`` prompts of ``split`` (stratified), into ``out``."""
    return Step(
        f"seed{seed}/{name}",
        title,
        ("traces",),
        ("--sampling-seed", str(seed), "--out", out),
        (
            _model(config, config.reasoner),
            TraceConfig(
                prompts=config.prompts,
                split=split,  # type: ignore[arg-type]
                limit=limit,
                selection=config.prompt_selection,  # type: ignore[arg-type]
                engine=config.engine,  # type: ignore[arg-type]
            ),
            GenerationConfig(
                max_new_tokens=config.trace_max_new_tokens,
                temperature=config.trace_temperature,
                batch_size=config.batch_size,
            ),
        ),
        after=after,
    )


def _decision_steps(config: StudyConfig, seed: int, d: str) -> list[Step]:
    """Held-out traces of the reasoner on the steering prompts, then both models read them,
    teacher-forced, at every decision point (the primary metric; see
    :mod:`experiments.steering.runs.decisions`)."""
    heldout = f"{d}/heldout-traces.jsonl"
    names = direction_names(config, seed)
    return [
        _trace_step(
            config,
            seed,
            "heldout-traces",
            "reasoner traces on the held-out steering prompts (for the decision points)",
            "evaluation",
            config.n_steer_prompts,
            heldout,
            after=(),  # the reasoner on the steering prompts: nothing of this seed
        ),
        Step(
            f"seed{seed}/decisions",
            "decision points: opener log-odds steered vs unsteered, reasoner and base, teacher-forced",
            ("steer", "decisions"),
            ("--out", f"{d}/decisions-s{seed}"),
            (
                DecisionConfig(
                    models=(config.reasoner, config.base),
                    model_labels=("reasoner", "base"),
                    traces=heldout,
                    prompts=config.prompts,
                    directions_dir=f"{d}/directions",
                    directions=tuple(names.values()),
                    alphas=config.decision_alphas,
                    baseline_directions=tuple(n for k, n in names.items() if k.startswith("random"))
                    if config.decision_random_alphas
                    else (),
                    baseline_alphas=config.decision_random_alphas,
                    batch_size=config.batch_size,
                    device=config.device,
                    dtype=config.dtype,  # type: ignore[arg-type]
                ),
            ),
            resumable_out=f"seed{seed}/decisions-s{seed}",
            after=(f"seed{seed}/heldout-traces", f"seed{seed}/directions"),
        ),
    ]


def _direction_config(config: StudyConfig, seed: int) -> DirectionConfig:
    return DirectionConfig(
        models=("base", "reasoner"),
        hooks=config.hooks,
        offsets=parse_offsets(config.window),
        n_random=config.n_random,
        seed=random_seeds(config, seed).start,
        min_events=config.min_events,
        tokens=config.token_baselines,
        token_baselines=bool(config.token_baselines),
        device=config.device,
        dtype=config.dtype,  # type: ignore[arg-type]
    )


def probe_config(config: StudyConfig, seed: int) -> ProbeConfig:
    """The probe step's config for ``seed`` (also what the ground truth re-reads its rows with)."""
    return ProbeConfig(
        models=config.probe_models,
        layers=tuple(str(layer) for layer in config.layers),
        offsets=parse_offsets(config.probe_offsets),
        seed=seed,
        min_events=config.min_events,
        device=config.device,
        max_negatives=config.probe_max_negatives,
        negatives=config.probe_negatives,
        n_bootstrap=config.probe_n_bootstrap,
        n_shuffles=config.probe_n_shuffles,
        backend="torch" if _on_cuda(config.device) else "sklearn",
    )


def _on_cuda(device: str) -> bool:
    """The study runs on a CUDA GPU: probes then use the batched torch backend there."""
    if device == "auto":
        import torch

        return bool(torch.cuda.is_available())
    return device.startswith("cuda")


def _steering(config: StudyConfig, seed: int, seed_dir: str) -> dict[str, Any]:
    """The settings the sweep and the ablation share."""
    return {
        "models": (config.reasoner, config.base),
        "model_labels": ("reasoner", "base"),
        "directions_dir": f"{seed_dir}/directions",
        "prompts": config.prompts,
        "split": "evaluation",
        "n_prompts": config.n_steer_prompts,
        "prompt_selection": config.prompt_selection,
        "max_new_tokens": config.steer_max_new_tokens,
        "stop_at_answer": config.steer_stop_at_answer,
        "stop_at_think_end": not config.steer_stop_at_answer,
        "temperature": config.steer_temperature,
        "seeds": (seed,),
        "batch_size": config.batch_size,
        "device": config.device,
        "dtype": config.dtype,
        "engine": config.engine,
        "perplexity": config.perplexity,
    }


def _sweep_config(config: StudyConfig, seed: int, seed_dir: str) -> SweepConfig:
    return SweepConfig(
        **_steering(config, seed, seed_dir),
        directions=tuple(sweep_direction_names(config, seed).values()),
        alphas=config.alphas,
        alpha_unit="mean_resid_norm",
        random_seed=random_seeds(config, seed).start,
    )


def _ablation_config(config: StudyConfig, seed: int, seed_dir: str) -> AblationConfig:
    shared = {**_steering(config, seed, seed_dir), "models": (config.reasoner,)}
    mean = direction_name("reasoner", config.steer_hook, "mean")
    return AblationConfig(
        **{**shared, "model_labels": ("reasoner",)},
        modes=config.ablation_modes,  # type: ignore[arg-type]
        mean_direction=mean if "mean" in config.ablation_modes else "",
        positions=config.ablation_positions,
        hooks=config.ablation_hooks,
        directions=tuple(ablation_names(config)),
        ks=config.ablation_ks,
        n_random=config.ablation_n_random,
        random_seed=seed * config.ablation_n_random,  # no subspace shared between seeds
        random_kinds=config.ablation_random_kinds,  # type: ignore[arg-type]
        store=f"{seed_dir}/store.h5",  # variance-matched subspaces, residual shares
        store_model="reasoner",
    )


def final_steps(config: StudyConfig, out: Path) -> list[Step]:
    """The findings over all seeds, then the report (the first seed's runs in detail)."""
    first = out / f"seed{config.seeds[0]}"
    report = [
        "--out",
        str(out / "report"),
        f"{first}/sweep-s{config.seeds[0]}",
        f"{first}/ablation-s{config.seeds[0]}",
        "--probes",
        f"{first}/probes",
        "--findings",
        str(out / "findings"),
    ]
    if config.sae is not None:
        report += ["--sae", f"{first}/sae"]
    return [
        Step("findings", "the four questions over all seeds", ("study", "findings"), (str(out),)),
        Step("report", "the HTML report", ("report",), tuple(report)),
    ]


def all_steps(config: StudyConfig, out: Path) -> list[Step]:
    """Every step of the study writing under ``out``, in order."""
    return [s for seed in config.seeds for s in seed_steps(config, seed, out)] + final_steps(
        config, out
    )
