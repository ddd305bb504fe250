"""Token baselines: the embedding and unembedding rows of backtracking words, saved as directions.

If a steering effect were just "add the Wait embedding" or "push the Wait logit", these baselines
would reproduce it; the logit lens and max-cosine checks in :mod:`probes.compare` measure how close
a derived direction is to them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from activation_store.directions import Direction
from activation_store.errors import InputError
from probes.naming import direction_name, token_tag
from probes.token_space import TokenSpace


def token_baselines(
    space: TokenSpace,
    *,
    model: str,
    hook: str,
    words: Sequence[str],
    mean_resid_norm: float | None,
    provenance: Mapping[str, Any],
    suffix: str = "",
) -> list[Direction]:
    """``embed-WORD`` (row of W_E) and ``unembed-WORD`` (column of W_U) for each word, at ``hook``.

    The vectors are the raw rows; compare them by cosine, or steer with their unit vectors.
    """
    out: list[Direction] = []
    for word in words:
        token, ids = space.token_id(word)
        info = {
            **provenance,
            "word": word,
            "token_id": token,
            "token": space.decode(token),
            "word_token_ids": ids,
            "weights_of": space.model_id,
        }
        for kind, vec in (("embed", space.W_E[token]), ("unembed", space.W_U[:, token])):
            out.append(
                Direction(
                    name=direction_name(model, hook, f"{kind}-{token_tag(word)}") + suffix,
                    vector=vec,
                    model=model,
                    hook=hook,
                    kind="embedding" if kind == "embed" else "unembedding",
                    mean_resid_norm=mean_resid_norm,
                    provenance=info,
                )
            )
    return out


def check_space_matches(space: TokenSpace, d_model: int, model: str) -> None:
    if space.d_model != d_model:
        raise InputError(
            f"model {model!r} has d_model {d_model} in the store but {space.model_id!r} has "
            f"{space.d_model}; pass the model the activations came from"
        )
