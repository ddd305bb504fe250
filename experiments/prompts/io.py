"""Loading prompt sets: a built-in set by name, or the user's JSONL.

A user file has one object per line: ``{"id": ..., "prompt": ..., "category"?: ..., "answer"?:
..., "split"?: "derivation" | "evaluation"}`` (built-in sets use the same format, with ``steps``).
Bad lines raise :class:`~activation_store.core.errors.InputError` naming the file and line.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from activation_store.core.errors import InputError
from activation_store.token_input import iter_jsonl
from experiments.prompts.builtin import BUILTIN_SETS, builtin_path
from experiments.prompts.problem import SPLITS, Problem, Split
from experiments.prompts.steps import Step

log = logging.getLogger(__name__)

DEFAULT_SET = "reasoning-v1"
"""The set ``backtrack traces`` uses when no ``--prompts`` is given."""


def load_prompts(
    source: str | Path = DEFAULT_SET,
    *,
    split: Split | None = None,
    categories: Sequence[str] | None = None,
) -> list[Problem]:
    """Prompts from a built-in set name (see :data:`BUILTIN_SETS`) or a JSONL path.

    ``split`` keeps one split (prompts without a split are dropped, with a warning);
    ``categories`` keeps those categories. An empty result is an error.
    """
    name = str(source)
    path = builtin_path(name) if name in BUILTIN_SETS else Path(name)
    if name not in BUILTIN_SETS and not path.exists():
        raise InputError(
            f"prompts {name!r} is neither a built-in set ({', '.join(BUILTIN_SETS)}) nor an "
            "existing JSONL file"
        )
    problems = [_parse(obj, f"{path}:{line}") for line, obj in iter_jsonl(path)]
    _check_unique(problems, path)
    if split is not None:
        if split not in SPLITS:
            raise InputError(f"split {split!r} is unknown; use one of {', '.join(SPLITS)}")
        unsplit = sum(p.split is None for p in problems)
        if unsplit:
            log.warning("%d prompts in %s have no split and are dropped by --split", unsplit, path)
        problems = [p for p in problems if p.split == split]
    if categories:
        known = {p.category for p in problems}
        unknown = sorted(set(categories) - known)
        if unknown:
            raise InputError(
                f"categories {', '.join(unknown)} are not in {name}; present: "
                f"{', '.join(sorted(str(c) for c in known))}"
            )
        problems = [p for p in problems if p.category in set(categories)]
    if not problems:
        raise InputError(f"no prompts left in {name} (split={split}, categories={categories})")
    return problems


def _parse(obj: dict[str, Any], where: str) -> Problem:
    if "id" not in obj or obj["id"] in (None, ""):
        raise InputError(f'{where}: missing "id"')
    prompt = obj.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise InputError(f'{where}: "prompt" must be a non-empty string')
    category = obj.get("category")
    if category is not None and not isinstance(category, str):
        raise InputError(f'{where}: "category" must be a string')
    answer = obj.get("answer")
    if answer is not None and (isinstance(answer, bool) or not isinstance(answer, (int, str))):
        raise InputError(f'{where}: "answer" must be an integer or a string')
    split = obj.get("split")
    if split is not None and split not in SPLITS:
        raise InputError(f'{where}: "split" must be one of {", ".join(SPLITS)}, got {split!r}')
    try:
        steps = tuple(Step.from_json(s) for s in obj.get("steps", ()))
    except (KeyError, TypeError, ValueError) as err:
        raise InputError(f'{where}: malformed "steps" ({err})') from err
    return Problem(
        id=str(obj["id"]), prompt=prompt, category=category, answer=answer, steps=steps, split=split
    )


def _check_unique(problems: list[Problem], path: Path) -> None:
    seen: set[str] = set()
    for p in problems:
        if p.id in seen:
            raise InputError(f"{path}: prompt id {p.id!r} appears twice; ids must be unique")
        seen.add(p.id)


def write_prompts(problems: Sequence[Problem], path: str | Path) -> Path:
    """Write ``problems`` as JSONL (readable by :func:`load_prompts`)."""
    from experiments.prompts.builtin import dumps_problems

    out = Path(path)
    out.write_text(dumps_problems(list(problems)), encoding="utf-8")
    return out
