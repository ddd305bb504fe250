"""``backtrack`` with scripted generation, for the kill -9 study test (run as a subprocess).

Local checkpoints load as usual, then get the forward hooks of
:func:`tests.generation.helpers.scripted`: every generation opens with the same thinking text with
two backtracking sentences, so the tiny random models give the study labelled events to work on.
The study runs its steps in this process (``--jobs 1``), so every step sees the hooks. This is
``backtrack study run CONFIG --out OUT`` with ``sae = None`` (which TOML cannot say):

    python -m tests.study.scripted_driver CONFIG OUT
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Any

from activation_store.models import hf_local, loader
from experiments.cli import configure_logging
from experiments.study.cli import _run_or_check
from experiments.study.config import load_study_config
from tests.generation.helpers import scripted

THOUGHT = "First, 5 + 8 = 13. Wait, that is wrong. Hmm, 5 + 8 = 13 is right. So the answer is 13."
_original = hf_local.load_local_hf
_KEEP: list[Any] = []


def _scripted_load(checkpoint: Any, *, dtype: Any) -> tuple[Any, Any]:
    model, tokenizer = _original(checkpoint, dtype=dtype)
    script = [
        *tokenizer.encode(THOUGHT, add_special_tokens=False),
        tokenizer.convert_tokens_to_ids("</think>"),
    ]
    hooks = scripted(model, [script])
    hooks.__enter__()
    _KEEP.append(hooks)  # collected, it would remove its hooks
    return model, tokenizer


hf_local.load_local_hf = _scripted_load  # type: ignore[assignment]
loader.load_local_hf = _scripted_load  # type: ignore[assignment]

if __name__ == "__main__":
    configure_logging(verbose=False)
    config_path, out = sys.argv[1:]
    config = dataclasses.replace(load_study_config(config_path), sae=None)
    sys.exit(_run_or_check(config, out, dry_run=False))
