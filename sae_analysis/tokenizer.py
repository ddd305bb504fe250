"""The tokenizer of a store's model, loaded cheaply, to show top-activating contexts as text.

The store records each model's ``model_id`` (a spec name or a local checkpoint directory). A local
directory's tokenizer loads without the weights; the tiny test specs build theirs directly; other
registered specs (e.g. the model organism) are small enough to build whole. A tokenizer whose
vocabulary hash differs from the store's ``tokenizer_id`` is used with a warning.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from activation_store.core.errors import ToolkitError
from activation_store.models.tokenizer import load_tokenizer
from activation_store.reader import ActivationStore
from sae_analysis.methods.contexts import Decode

log = logging.getLogger(__name__)


def store_decoder(
    store: ActivationStore, model: str, tokenizer: str | None = None
) -> tuple[Decode | None, list[str]]:
    """A per-token decoder for ``model``'s tokens (or None) and notes about how it was chosen."""
    name = tokenizer or str(store.model_attrs(model).get("model_id", ""))
    notes: list[str] = []
    try:
        tok = load_tokenizer(name)
    except (ToolkitError, OSError, ValueError) as err:
        notes.append(f"no tokenizer for {name!r} ({err}); contexts show token ids")
        tok = None
    if tok is None:
        if not notes:
            notes.append(f"no tokenizer for {name!r}; contexts show token ids")
        for note in notes:
            log.warning("%s", note)
        return None, notes
    from activation_store.token_input import tokenizer_id

    expected = str(store.attrs.get("tokenizer_id", ""))
    if expected and _vocab_part(tokenizer_id(tok)) != _vocab_part(expected):
        notes.append(
            f"tokenizer of {name!r} differs from the store's ({expected}); context text may be wrong"
        )
        log.warning("%s", notes[-1])

    def decode(ids: Sequence[int]) -> list[str]:
        return [tok.decode([int(i)]) for i in ids]

    return decode, notes


def _vocab_part(tokenizer_id: str) -> str:
    """``name|vocab=N|hash`` → ``vocab=N|hash`` (the name depends on where it was loaded from)."""
    return tokenizer_id.split("|", 1)[-1]
