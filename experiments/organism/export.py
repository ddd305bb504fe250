"""Export a finetuning run's adapter in the shipped form: peft files in fp16 + ``organism.json``.

``organism.json`` records the base weights' digest (the GGUF's SHA-256, checked before every
merge), the trace and finetuning configs, the command that rebuilt it and the loss curve summary,
so the shipped weights say exactly how they were made.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import torch

from activation_store.core.errors import InputError
from activation_store.models.smollm2 import ORGANISM_FILE, base_digest
from experiments.organism.finetune import CHECKPOINT

logger = logging.getLogger(__name__)

MAX_SHIPPED_BYTES = 20 * 1024 * 1024
"""The shipped adapter must stay under 20 MB."""


def export_adapter(run_dir: Path, out_dir: Path, record: dict[str, Any]) -> Path:
    """Write the run's adapter (fp16 safetensors + adapter_config.json) and ``organism.json``.

    ``record`` (configs, command, figures) is stored in ``organism.json`` together with the base
    digest. The directory is replaced atomically; files in it other than these (the package's
    ``__init__.py``) are kept.
    """
    from safetensors.torch import load_file, save_file

    source = run_dir / CHECKPOINT
    weights_path = source / "adapter_model.safetensors"
    if not weights_path.is_file():
        raise InputError(f"no finished adapter in {str(source)!r}; run the finetune stage first")
    weights = {k: v.to(torch.float16).contiguous() for k, v in load_file(weights_path).items()}
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file(weights, str(tmp / "adapter_model.safetensors"), metadata={"format": "pt"})
    config = json.loads((source / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = "smollm2-135m"
    (tmp / "adapter_config.json").write_text(json.dumps(config, indent=2, sort_keys=True))
    full_record = {"base_spec": "smollm2-135m", "base_sha256": base_digest(), **record}
    (tmp / ORGANISM_FILE).write_text(json.dumps(full_record, indent=2, default=str))
    size = (tmp / "adapter_model.safetensors").stat().st_size
    if size > MAX_SHIPPED_BYTES:
        logger.warning("adapter is %.1f MB, over the 20 MB shipping limit", size / 2**20)
    if out_dir.exists():
        for kept in out_dir.iterdir():  # e.g. the package's __init__.py
            if not (tmp / kept.name).exists():
                os.replace(kept, tmp / kept.name)
        shutil.rmtree(out_dir)
    os.replace(tmp, out_dir)
    logger.info("exported the adapter (%.1f MB fp16) to %s", size / 2**20, out_dir)
    return out_dir
