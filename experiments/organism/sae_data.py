"""The SAE's training tokens: reasoning traces plus general text that ships with Python.

General text comes from two sources present in every environment of the toolkit, so a rebuild sees
the same text: scikit-learn's dataset descriptions (``sklearn/datasets/descr/*.rst``, English
prose) and the Python language reference topics in the standard library (``pydoc_data.topics``,
prose with code). Each text is cut into chunks of ``context`` tokens, and every sequence starts
with ``<|im_start|>`` like a chat turn; rows of that token are left out of SAE training and of
the spliced evaluation (it is an attention sink with an outsized norm).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from experiments.organism.traces import SyntheticTrace

SKLEARN_DESCR = ("sklearn", "datasets/descr")


def general_texts() -> list[tuple[str, str]]:
    """``(source_id, text)`` for every general text, in a fixed order."""
    out: list[tuple[str, str]] = []
    spec = importlib.util.find_spec(SKLEARN_DESCR[0])
    if spec is not None and spec.submodule_search_locations:
        descr = Path(next(iter(spec.submodule_search_locations))) / SKLEARN_DESCR[1]
        out += [(f"sklearn-descr/{p.stem}", p.read_text()) for p in sorted(descr.glob("*.rst"))]
    from pydoc_data import topics

    out += [(f"pydoc-topics/{name}", topics.topics[name]) for name in sorted(topics.topics)]
    return out


def general_sequences(
    tokenizer: PreTrainedTokenizerBase, *, max_tokens: int, context: int
) -> list[tuple[str, list[int]]]:
    """Chunks of general text, ``<|im_start|>`` + ``context - 1`` tokens, ``max_tokens`` in all.

    Texts are taken in turn one chunk at a time (round robin), so a small budget still mixes the
    sources instead of exhausting the first one.
    """
    start = list(tokenizer("<|im_start|>", add_special_tokens=False).input_ids)
    pending = [
        (sid, list(tokenizer(text, add_special_tokens=False).input_ids))
        for sid, text in general_texts()
    ]
    out: list[tuple[str, list[int]]] = []
    total, offset = 0, 0
    while total < max_tokens and any(offset < len(ids) for _, ids in pending):
        for sid, ids in pending:
            chunk = ids[offset : offset + context - 1]
            if len(chunk) < context // 4 or total >= max_tokens:
                continue
            out.append((f"{sid}#{offset // (context - 1)}", [*start, *chunk]))
            total += len(chunk) + len(start)
        offset += context - 1
    return out


def trace_sequences(
    tokenizer: PreTrainedTokenizerBase, traces: Sequence[SyntheticTrace]
) -> list[tuple[str, list[int]]]:
    """Each trace as the reasoner sees it: chat prompt, completion, ``<|im_end|>``."""
    from experiments.organism.chat import encode_trace

    return [(t.problem.id, encode_trace(tokenizer, t).input_ids) for t in traces]
