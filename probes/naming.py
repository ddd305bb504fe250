"""File-safe names for saved directions: ``{model}_{hook tag}_{kind}``, e.g. ``base_L10_dom``.

The one naming scheme of every direction the toolkit saves — derived ones (``base_L10_dom``,
``reasoner_L10_offset0``) and baselines (``base_L10_random7``, ``base_L10_embed-Wait``,
``base_L10_mean``) — so a program that needs a name (the study) asks here instead of guessing.
"""

from __future__ import annotations

import re

from activation_store.models.hooks import parse_hook

_UNSAFE = re.compile(r"[^A-Za-z0-9_.+=-]")


def hook_tag(hook: str) -> str:
    """``blocks.10.hook_resid_post`` → ``L10``; ``blocks.3.hook_mlp_out`` → ``L3-mlp_out``;
    ``hook_embed`` → ``embed``."""
    spec = parse_hook(hook)
    if spec.layer is None:
        return spec.kind
    return f"L{spec.layer}" if spec.kind == "resid_post" else f"L{spec.layer}-{spec.kind}"


def token_tag(word: str) -> str:
    """A word as a name part: a leading space becomes ``_`` (as SentencePiece's ``▁``): ``" Wait"``
    → ``_Wait``; other unsafe characters become ``-``."""
    lead = "_" if word.startswith(" ") else ""
    return lead + (_UNSAFE.sub("-", word.strip()) or "space")


def direction_name(model: str, hook: str, kind: str) -> str:
    return f"{_UNSAFE.sub('-', model)}_{hook_tag(hook)}_{kind}"


def random_name(model: str, hook: str, seed: int, *, suffix: str = "") -> str:
    """The saved name of the random baseline of ``seed``: ``base_L10_random7``."""
    return direction_name(model, hook, f"random{seed}") + suffix


def token_name(model: str, hook: str, kind: str, word: str, *, suffix: str = "") -> str:
    """The saved name of a token baseline: ``base_L10_embed-Wait``, ``base_L10_unembed-_Wait``."""
    return direction_name(model, hook, f"{kind}-{token_tag(word)}") + suffix
