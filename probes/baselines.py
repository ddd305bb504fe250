"""Baseline directions: the controls every candidate direction is compared with, made in one place.

``backtrack directions`` saves them beside the difference-of-means directions, and a steering sweep
whose directions directory has none makes them at run time, with this one maker:

- **random** (kind ``random``): isotropic Gaussian directions, one seed each (``torch.Generator``
  seeded with the seed, float64 draws);
- **token** (kinds ``embedding`` and ``unembedding``): the input-embedding row and the
  unembedding column of a word's first token — if steering with a direction were just "add the
  Wait embedding" or "push the Wait logit", these would reproduce it. With tied weights the two
  are one vector, saved once as ``embed-WORD`` (provenance ``also_unembedding``). A word the
  tokenizer does not know (its first token is the unknown token) is skipped with a warning;
- **mean** (kind ``mean_activation``): the mean activation itself, at its own norm (its size is
  the point: it says how far a direction sits from "more of the average residual").

**Naming** (:func:`probes.naming.direction_name`): ``{model}_{hook tag}_{what}`` —
``base_L10_random7``, ``base_L10_embed-Wait``, ``base_L10_unembed-_Wait`` (a leading ``_`` is a
space), ``base_L10_mean``; a suffix (``--suffix``) is appended to every name.

**Norm matching**: random and token baselines get the norm and ``mean_resid_norm`` of their
*reference* — the mean over the candidate directions (kinds not in :data:`BASELINE_KINDS`) at the
same hook; in ``backtrack directions`` that is the model's difference-of-means direction, in a
sweep the directions under test. Steering in units of ``unit`` or ``mean_resid_norm`` then adds
every baseline at exactly the candidates' strength.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from activation_store.core.errors import InputError
from activation_store.direction import Direction
from probes.naming import direction_name, random_name, token_name
from probes.token_space import TokenSpace

log = logging.getLogger(__name__)

BASELINE_KINDS = frozenset({"random", "mean_activation", "embedding", "unembedding", "offset0"})
"""Kinds that are controls, not candidate mechanisms (a reasoning-derived direction is compared
too, but it is a candidate)."""

TOKEN_KINDS = ("embed", "unembed")
"""The token rows a word can give: its embedding row and its unembedding column."""


@dataclass(frozen=True)
class NormReference:
    """What the baselines at one hook are matched to: the candidates' mean norm there."""

    model: str
    hook: str
    d_model: int
    norm: float
    """Mean L2 norm of the candidate directions."""
    mean_resid_norm: float | None
    """Mean of their ``mean_resid_norm`` (None when none records one)."""


def references(directions: Sequence[Direction]) -> list[NormReference]:
    """One :class:`NormReference` per hook of ``directions``, in order of appearance.

    Only candidates count (kinds outside :data:`BASELINE_KINDS`); a hook holding only baselines is
    matched to all of them. The baselines are named after the first candidate's model.
    """
    groups: dict[str, list[Direction]] = {}
    for d in directions:
        groups.setdefault(d.hook, []).append(d)
    out = []
    for hook, members in groups.items():
        chosen = [d for d in members if d.kind not in BASELINE_KINDS] or members
        resid = [d.mean_resid_norm for d in chosen if d.mean_resid_norm is not None]
        out.append(
            NormReference(
                model=chosen[0].model,
                hook=hook,
                d_model=chosen[0].d_model,
                norm=float(sum(d.norm for d in chosen) / len(chosen)),
                mean_resid_norm=float(sum(resid) / len(resid)) if resid else None,
            )
        )
    return out


def random_baselines(
    reference: NormReference,
    seeds: Sequence[int],
    *,
    suffix: str = "",
    provenance: Mapping[str, Any] | None = None,
) -> list[Direction]:
    """One norm-matched Gaussian direction per seed, named ``{model}_{hook tag}_random{seed}``."""
    out = []
    for seed in seeds:
        generator = torch.Generator().manual_seed(seed)
        vector = torch.randn(reference.d_model, generator=generator, dtype=torch.float64)
        vector = vector * (reference.norm / float(vector.norm()))
        out.append(
            Direction(
                name=random_name(reference.model, reference.hook, seed, suffix=suffix),
                vector=vector.float(),
                model=reference.model,
                hook=reference.hook,
                kind="random",
                mean_resid_norm=reference.mean_resid_norm,
                provenance={
                    **(provenance or {}),
                    "seed": seed,
                    "norm_matched_to": reference.norm,
                },
            )
        )
    return out


def token_baselines(
    space: TokenSpace,
    reference: NormReference,
    words: Sequence[str],
    *,
    kinds: Sequence[str] = TOKEN_KINDS,
    suffix: str = "",
    provenance: Mapping[str, Any] | None = None,
) -> list[Direction]:
    """``embed-WORD`` / ``unembed-WORD`` for each word (first token), norm-matched to
    ``reference``; tied rows once, as ``embed-WORD``; unknown words skipped with a warning."""
    unknown = sorted(set(kinds) - set(TOKEN_KINDS))
    if unknown:
        raise InputError(f"token baseline kinds {unknown}: choose from {', '.join(TOKEN_KINDS)}")
    space.check_width(reference.d_model, reference.model)
    out: list[Direction] = []
    for word in words:
        token, ids = space.token_id(word)
        if space.is_unknown(token):
            log.warning(
                "no token baseline for %r: %s's tokenizer does not know it (it becomes %r)",
                word,
                space.model_id,
                space.decode(token),
            )
            continue
        tied = space.tied(token)
        info = {
            **(provenance or {}),
            "word": word,
            "token_id": token,
            "token": space.decode(token),
            "word_token_ids": ids,
            "weights_of": space.model_id,
            "norm_matched_to": reference.norm,
        }
        rows = {"embed": space.W_E[token], "unembed": space.W_U[:, token]}
        wanted = ["embed"] if tied and set(kinds) & set(TOKEN_KINDS) else list(kinds)
        for kind in wanted:
            row = rows[kind].to(torch.float64)
            extra = {"also_unembedding": True} if tied else {}
            out.append(
                Direction(
                    name=token_name(reference.model, reference.hook, kind, word, suffix=suffix),
                    vector=(row * (reference.norm / float(row.norm()))).float(),
                    model=reference.model,
                    hook=reference.hook,
                    kind="embedding" if kind == "embed" else "unembedding",
                    mean_resid_norm=reference.mean_resid_norm,
                    provenance={**info, **extra},
                )
            )
        if tied:
            log.info("embedding and unembedding of %r are tied: one baseline for both", word)
    return out


def mean_baseline(
    mean: np.ndarray | torch.Tensor,
    *,
    model: str,
    hook: str,
    mean_resid_norm: float | None,
    suffix: str = "",
    provenance: Mapping[str, Any] | None = None,
) -> Direction:
    """The mean activation as a direction (``{model}_{hook tag}_mean``), at its own norm."""
    vector = torch.as_tensor(np.asarray(mean, dtype=np.float32))
    return Direction(
        name=direction_name(model, hook, "mean") + suffix,
        vector=vector,
        model=model,
        hook=hook,
        kind="mean_activation",
        mean_resid_norm=mean_resid_norm,
        provenance=dict(provenance or {}),
    )
