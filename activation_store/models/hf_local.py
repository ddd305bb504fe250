"""Load a local Hugging Face checkpoint directory, offline, with one-line errors for bad input.

A directory works if it holds config.json (with a supported ``architectures`` entry), tokenizer
files and the weights, as written by ``save_pretrained`` or ``huggingface-cli download``. The
architecture, not the name, decides how it is loaded: DeepSeek-R1-Distill-Llama-8B is a
``LlamaForCausalLM`` with its own weights, tokenizer and chat template.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from activation_store.core.errors import ModelLoadError
from activation_store.models.convert import architecture_of, check_supported
from activation_store.models.offline import offline_hub

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

logger = logging.getLogger(__name__)

TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json")
"""Any one of these means the directory carries its own tokenizer."""
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
WEIGHT_INDEXES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")


@dataclass(frozen=True, kw_only=True)
class LocalCheckpoint:
    """A checked local checkpoint directory."""

    path: Path
    """Resolved directory."""
    architecture: str
    """``architectures[0]`` from config.json, e.g. ``LlamaForCausalLM``."""


def check_local_dir(path: str | Path) -> LocalCheckpoint:
    """Check, without loading anything big, that ``path`` is a loadable checkpoint directory."""
    directory = Path(path).expanduser()
    if not directory.exists():
        raise ModelLoadError(
            f"model path {str(directory)!r} does not exist; pass a local Hugging Face directory "
            "or a spec name (see known_specs())"
        )
    if not directory.is_dir():
        raise ModelLoadError(
            f"model path {str(directory)!r} is not a directory; pass the checkpoint directory "
            "that holds config.json"
        )
    directory = directory.resolve()
    config = _read_config(directory)
    architecture = architecture_of(config)
    check_supported(architecture, str(directory))
    if not any((directory / name).is_file() for name in TOKENIZER_FILES):
        raise ModelLoadError(
            f"no tokenizer files in {str(directory)!r} (need one of {', '.join(TOKENIZER_FILES)}); "
            "copy them from the original checkpoint"
        )
    _check_weights(directory)
    return LocalCheckpoint(path=directory, architecture=architecture)


def load_local_hf(
    checkpoint: LocalCheckpoint,
    *,
    dtype: torch.dtype,
    device: torch.device | None = None,
    device_map: str | None = None,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load the HF model (``dtype``, eval mode) and its own tokenizer; never touches the hub.

    On the CPU by default; with ``device`` the weights are loaded straight onto it (``device_map``),
    never held in full on the host; with ``device_map`` ("auto", "balanced", "sequential")
    accelerate splits the blocks over every visible GPU (then the CPU)."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    path = str(checkpoint.path)
    with offline_hub():
        config = _hf_call("config", path, AutoConfig.from_pretrained, path, local_files_only=True)
        tokenizer = _hf_call(
            "tokenizer", path, AutoTokenizer.from_pretrained, path, local_files_only=True
        )
        model, info = _hf_call(
            "weights",
            path,
            AutoModelForCausalLM.from_pretrained,
            path,
            config=config,
            dtype=dtype,
            local_files_only=True,
            output_loading_info=True,
            **_placement(device, device_map),
        )
    missing = sorted(info.get("missing_keys", ()))
    mismatched = info.get("mismatched_keys", ())
    if missing or mismatched:
        example = missing[0] if missing else str(next(iter(mismatched)))
        raise ModelLoadError(
            f"{len(missing)} missing and {len(mismatched)} mis-shaped weights in {path!r} "
            f"(e.g. {example}); the checkpoint is incomplete or belongs to another architecture"
        )
    where = (
        getattr(model, "hf_device_map", f"device_map {device_map}")
        if device_map
        else (device or "cpu")
    )
    logger.info("loaded %s (%s, %s) from %s", checkpoint.architecture, dtype, where, path)
    return model.eval(), tokenizer


def _placement(device: torch.device | None, device_map: str | None) -> dict[str, Any]:
    """``from_pretrained``'s placement arguments: a split, one device, or the CPU (none)."""
    if device_map is not None:
        return {"device_map": device_map}
    return {"device_map": {"": device}} if device is not None and device.type != "cpu" else {}


def _read_config(directory: Path) -> dict[str, Any]:
    config_path = directory / "config.json"
    if not config_path.is_file():
        raise ModelLoadError(
            f"no config.json in {str(directory)!r}; expected a Hugging Face checkpoint directory "
            "(config.json, tokenizer files, *.safetensors)"
        )
    try:
        config = json.loads(config_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelLoadError(f"cannot read {str(config_path)!r}: {err}; fix or re-copy it") from err
    if not isinstance(config, dict):
        raise ModelLoadError(f"{str(config_path)!r} is not a JSON object; fix or re-copy it")
    return config


def _check_weights(directory: Path) -> None:
    for index_name in WEIGHT_INDEXES:
        index_path = directory / index_name
        if index_path.is_file():
            try:
                shards = set(json.loads(index_path.read_text())["weight_map"].values())
            except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
                raise ModelLoadError(f"cannot read {str(index_path)!r}: {err}; re-copy it") from err
            missing = sorted(s for s in shards if not (directory / s).is_file())
            if missing:
                raise ModelLoadError(
                    f"{len(missing)} weight shard(s) missing from {str(directory)!r} "
                    f"(e.g. {missing[0]}); copy the complete checkpoint"
                )
            return
    if not any((directory / name).is_file() for name in WEIGHT_FILES):
        raise ModelLoadError(
            f"no weights in {str(directory)!r} (need model.safetensors, a sharded "
            "model.safetensors.index.json, or pytorch_model.bin); copy them from the checkpoint"
        )


def _hf_call(what: str, path: str, func: Any, *args: Any, **kwargs: Any) -> Any:
    """Call a transformers loader, turning its (multi-line) errors into one-line ModelLoadErrors."""
    try:
        return func(*args, **kwargs)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as err:
        text = " ".join(str(err).split())[:300] or type(err).__name__
        raise ModelLoadError(f"could not load the {what} from {path!r}: {text}") from err
