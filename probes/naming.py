"""File-safe names for saved directions: ``{model}_{hook tag}_{kind}``, e.g. ``base_L10_dom``."""

from __future__ import annotations

import re

_UNSAFE = re.compile(r"[^A-Za-z0-9_.+=-]")


def hook_tag(hook: str) -> str:
    """``blocks.10.hook_resid_post`` → ``L10``; ``blocks.3.hook_mlp_out`` → ``L3-mlp_out``;
    ``hook_embed`` → ``embed``."""
    parts = hook.split(".")
    if len(parts) == 3 and parts[0] == "blocks" and parts[1].isdigit():
        kind = parts[2].removeprefix("hook_")
        return f"L{parts[1]}" if kind == "resid_post" else f"L{parts[1]}-{kind}"
    return _UNSAFE.sub("-", hook.removeprefix("hook_"))


def token_tag(word: str) -> str:
    """A word as a name part: a leading space becomes ``_`` (as SentencePiece's ``▁``): ``" Wait"``
    → ``_Wait``; other unsafe characters become ``-``."""
    lead = "_" if word.startswith(" ") else ""
    return lead + (_UNSAFE.sub("-", word.strip()) or "space")


def direction_name(model: str, hook: str, kind: str) -> str:
    return f"{_UNSAFE.sub('-', model)}_{hook_tag(hook)}_{kind}"
