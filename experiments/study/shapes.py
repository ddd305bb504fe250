"""A study's models and SAE as their config files describe them, read without loading any weights.

A model is a spec name (shapes from :data:`SPEC_CONFIGS`, no building) or a local Hugging Face
directory (``config.json``; the directory is checked the way loading checks it). An SAE is a
directory in sae_lens's saved format (``cfg.json``), a built-in name (a directory under
``sae_analysis/pretrained/``) or ``release:sae_id`` from sae_lens's registry, whose files are looked
for in the local Hugging Face cache (nothing is downloaded; without them its shape is not checked).
Every reader returns what it found plus problems (the study cannot run) and warnings.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from activation_store.core.errors import ToolkitError
from activation_store.models.organism_weights import VERSIONS as ORGANISM_VERSIONS

T = TypeVar("T")

SPEC_CONFIGS: dict[str, dict[str, Any]] = {
    "tiny-llama": {
        "architectures": ["LlamaForCausalLM"], "vocab_size": 514, "hidden_size": 64,
        "intermediate_size": 128, "num_hidden_layers": 4, "num_attention_heads": 4,
        "num_key_value_heads": 2, "tie_word_embeddings": False,
    },
    "tiny-gpt": {
        "architectures": ["GPT2LMHeadModel"], "vocab_size": 514, "n_embd": 64, "n_layer": 4,
        "n_head": 4, "n_positions": 512,
    },
    "smollm2-135m": {
        "architectures": ["LlamaForCausalLM"], "vocab_size": 49152, "hidden_size": 576,
        "intermediate_size": 1536, "num_hidden_layers": 30, "num_attention_heads": 9,
        "num_key_value_heads": 3, "tie_word_embeddings": True,
    },
}  # fmt: skip
"""config.json values of the built-in specs (their shapes, known without building them)."""
SPEC_CONFIGS["smollm2-135m-reasoner"] = SPEC_CONFIGS["smollm2-135m"]
for _version in ORGANISM_VERSIONS:
    SPEC_CONFIGS[f"smollm2-135m-reasoner-{_version}"] = SPEC_CONFIGS["smollm2-135m"]


@dataclass(frozen=True)
class Reading(Generic[T]):
    """What a reader found (None when nothing could be read), and what is wrong with it."""

    value: T | None
    problems: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class ModelShape:
    """A model's shapes from its config."""

    name: str
    """The spec name or directory as given."""
    architecture: str
    n_layers: int
    d_model: int
    vocab_size: int
    n_params: int
    """Parameter count computed from the config (embeddings and LM head included)."""
    kv_bytes_per_token: int
    """KV-cache bytes per token at 2 bytes per value (bfloat16/float16)."""
    tied_embeddings: bool
    """Whether the LM head is the embedding matrix (then a word's unembedding row is its
    embedding row: one token baseline stands for both)."""
    source: str
    """Where the figures come from: ``spec`` or the config.json path."""


@dataclass(frozen=True, kw_only=True)
class SaeShape:
    """An SAE's shapes and training site, from its config."""

    name: str
    d_in: int | None
    d_sae: int | None
    hook_name: str | None
    model_name: str | None
    normalize_activations: str | None
    source: str


def model_shape(name: str, config: dict[str, Any], source: str) -> ModelShape:
    """Shapes and parameter count of a Llama-like or GPT-2 config.json dict."""
    from activation_store.models.convert import architecture_of

    cfg = config.get("text_config", config)
    d = int(cfg.get("hidden_size", cfg.get("n_embd", 0)))
    n_layers = int(cfg.get("num_hidden_layers", cfg.get("n_layer", 0)))
    vocab = int(cfg.get("vocab_size", 0))
    heads = int(cfg.get("num_attention_heads", cfg.get("n_head", 1)))
    head_dim = int(cfg.get("head_dim") or d // max(heads, 1))
    kv_heads = int(cfg.get("num_key_value_heads", heads))
    if "n_embd" in cfg:  # GPT-2: fused qkv, 4x MLP, biases, learned positions, tied LM head
        per_layer = 12 * d * d + 13 * d
        params = vocab * d + int(cfg.get("n_positions", 1024)) * d + n_layers * per_layer + 2 * d
    else:
        q, kv = heads * head_dim, kv_heads * head_dim
        per_layer = (
            2 * d * q + 2 * d * kv + 3 * d * int(cfg.get("intermediate_size", 4 * d)) + 2 * d
        )
        if cfg.get("attention_bias") or cfg.get("model_type") == "qwen2":
            per_layer += q + 2 * kv
        untied = not cfg.get("tie_word_embeddings", False)
        params = vocab * d * (2 if untied else 1) + n_layers * per_layer + d
    return ModelShape(
        name=name,
        architecture=architecture_of(config),
        n_layers=n_layers,
        d_model=d,
        vocab_size=vocab,
        n_params=params,
        kv_bytes_per_token=2 * n_layers * kv_heads * head_dim * 2,
        tied_embeddings="n_embd" in cfg or bool(cfg.get("tie_word_embeddings", False)),
        source=source,
    )


def read_model(name: str) -> Reading[ModelShape]:
    """A model's shape from the spec table or its directory's config.json, and whether it loads."""
    from activation_store.models.loader import known_specs

    if name in SPEC_CONFIGS:
        return Reading(model_shape(name, SPEC_CONFIGS[name], "spec"), _spec_problems(name))
    if name in known_specs():
        return Reading(None, (), (f"model spec {name!r}: shape unknown without loading it; "
                                  "layer and width checks skipped",))  # fmt: skip
    if not _looks_like_path(name):
        return Reading(None, (f"unknown model {name!r}; known specs: {', '.join(known_specs())}, "
                              "or a local Hugging Face directory",))  # fmt: skip
    return _read_model_dir(Path(name).expanduser())


def _looks_like_path(name: str) -> bool:
    """As the loader tells a directory from a spec name."""
    return "/" in name or os.sep in name or name.startswith((".", "~")) or Path(name).exists()


def _read_model_dir(directory: Path) -> Reading[ModelShape]:
    from activation_store.models.hf_local import check_local_dir

    problems = []
    try:
        check_local_dir(directory)
    except ToolkitError as err:
        problems.append(str(err))
    config_path = directory / "config.json"
    if not config_path.is_file():
        return Reading(None, tuple(problems))
    try:
        config = json.loads(config_path.read_text())
        shape = model_shape(str(directory), config, str(config_path))
    except (OSError, ValueError, TypeError, AttributeError, ToolkitError) as err:
        return Reading(None, (*problems, f"cannot read the shapes in {str(config_path)!r}: {err}"))
    if not shape.d_model or not shape.n_layers:
        problems.append(f"{str(config_path)!r} gives no hidden_size or num_hidden_layers")
    return Reading(shape, tuple(problems))


def _spec_problems(name: str) -> tuple[str, ...]:
    """The files an embedded spec needs (the GGUF package; the organism's adapter)."""
    if not name.startswith("smollm2-135m"):
        return ()
    from activation_store.models.smollm2 import ADAPTER_DIR, gguf_path

    problems = []
    try:
        gguf_path()
    except ToolkitError as err:
        problems.append(str(err))
    if name.endswith("-reasoner") and not (ADAPTER_DIR / "adapter_config.json").is_file():
        problems.append(f"model {name!r} needs the organism adapter in {str(ADAPTER_DIR)!r}")
    return tuple(problems)


def read_sae(spec: str) -> Reading[SaeShape]:
    """An SAE's shape and training site from its cfg.json (directory, built-in name or registry)."""
    from sae_analysis.loading import PRETRAINED_DIR, builtin_sae_names

    path = Path(spec).expanduser()
    if path.is_dir():
        return _read_sae_dir(spec, path)
    if spec in builtin_sae_names():
        return _read_sae_dir(spec, PRETRAINED_DIR / spec)
    match = re.fullmatch(r"([^:/\\]+):([^:]+)", spec)
    if match:
        return _read_registry_sae(match.group(1), match.group(2))
    names = ", ".join(builtin_sae_names()) or "none"
    if "/" in spec or spec.startswith((".", "~")):
        return Reading(None, (f"SAE directory {spec!r} does not exist",))
    return Reading(None, (f"SAE {spec!r} is not a directory, a built-in name ({names}), or "
                          "RELEASE:SAE_ID from sae_lens's registry",))  # fmt: skip


def _read_sae_dir(name: str, path: Path) -> Reading[SaeShape]:
    cfg_path = path / "cfg.json"
    if not cfg_path.is_file():
        hint = (
            " (it holds hyperparams.json: Llama Scope's own format; save it in sae_lens's format "
            "with SAE.from_pretrained(RELEASE, SAE_ID).save_model(DIR))"
            if (path / "hyperparams.json").is_file()
            else ""
        )
        return Reading(None, (f"no cfg.json in SAE directory {str(path)!r}{hint}",))
    try:
        cfg = json.loads(cfg_path.read_text())
        shape = _sae_shape(name, cfg, str(cfg_path))
    except (OSError, ValueError, TypeError, AttributeError) as err:
        return Reading(None, (f"cannot read {str(cfg_path)!r}: {err}",))
    problems = []
    if not (path / "sae_weights.safetensors").is_file():
        problems.append(f"no sae_weights.safetensors in SAE directory {str(path)!r}")
    return Reading(shape, tuple(problems))


def _sae_shape(name: str, cfg: dict[str, Any], source: str) -> SaeShape:
    meta = cfg.get("metadata") or {}

    def pick(key: str) -> Any:
        value = cfg.get(key) or meta.get(key)
        return value if value not in (None, "") else None

    d_in, d_sae = pick("d_in") or pick("d_model"), pick("d_sae")
    return SaeShape(
        name=name,
        d_in=int(d_in) if d_in is not None else None,
        d_sae=int(d_sae) if d_sae is not None else None,
        hook_name=pick("hook_name") or pick("hook_point_in"),
        model_name=pick("model_name"),
        normalize_activations=pick("normalize_activations"),
        source=source,
    )


def _read_registry_sae(release: str, sae_id: str) -> Reading[SaeShape]:
    from sae_analysis.hub_cache import pretrained_entry

    try:
        entry = pretrained_entry(release, sae_id)
    except ToolkitError as err:
        return Reading(None, (str(err),))
    name = f"{release}:{sae_id}"
    found = _hub_cache_folder(entry.repo_id, entry.folder)
    if found is None:
        return Reading(
            SaeShape(name=name, d_in=None, d_sae=None, hook_name=None, model_name=entry.model,
                     normalize_activations=None, source="sae_lens registry"),
            (f"pretrained SAE {name} is not in the local Hugging Face cache (repo {entry.repo_id}, "
             f"expected under {entry.expected_dir()}/); nothing is downloaded at run time: run "
             f"`hf download {entry.repo_id} --include '{entry.folder}/*'` on a connected machine",),
            (f"SAE {name}: d_in and hook not checked offline (its files are not cached here)",),
        )  # fmt: skip
    for cfg_name in ("cfg.json", "hyperparams.json"):  # sae_lens's format, Llama Scope's own
        if (found / cfg_name).is_file():
            try:
                cfg = json.loads((found / cfg_name).read_text())
            except (OSError, ValueError) as err:
                return Reading(None, (f"cannot read {str(found / cfg_name)!r}: {err}",))
            shape = _sae_shape(name, {**cfg, "model_name": entry.model}, str(found / cfg_name))
            return Reading(shape)
    return Reading(
        None, (), (f"SAE {name}: no cfg.json or hyperparams.json in {str(found)!r}; not checked",)
    )


def _hub_cache_folder(repo_id: str, folder: str) -> Path | None:
    """The newest cached snapshot's copy of ``folder`` in ``repo_id``, if any."""
    from huggingface_hub import constants

    repo = Path(constants.HF_HUB_CACHE) / ("models--" + repo_id.replace("/", "--"))
    candidates = [s / folder for s in (repo / "snapshots").glob("*") if (s / folder).is_dir()]
    return max(candidates, key=lambda p: p.stat().st_mtime) if candidates else None
