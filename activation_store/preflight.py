"""Cheap checks of a command's inputs, run before any model weights are loaded.

A command that would fail on its output path, a model name, a hook or an input file should fail
at once, not after minutes of loading a model: each check here reads at most a small file
(``config.json``, a JSONL, a store's metadata) and raises a one-line :class:`ToolkitError`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from activation_store.core.errors import InputError, ModelLoadError
from activation_store.models.organism_weights import VERSIONS as ORGANISM_VERSIONS

SPEC_SHAPES: dict[str, tuple[int, bool]] = {
    "tiny-llama": (4, False),
    "tiny-gpt": (4, True),
    "smollm2-135m": (30, False),
    "smollm2-135m-reasoner": (30, False),
    **{f"smollm2-135m-reasoner-{v}": (30, False) for v in ORGANISM_VERSIONS},
}
"""Built-in spec → (decoder blocks, learned positional embedding); tested against the models."""


def check_model_available(name: str, flag: str = "--model") -> None:
    """``name`` is a registered spec or a complete local checkpoint directory (nothing loaded)."""
    from activation_store.models.hf_local import check_local_dir
    from activation_store.models.loader import _looks_like_path, known_specs

    if name in known_specs():
        return
    if _looks_like_path(name):
        check_local_dir(name)
        return
    raise ModelLoadError(
        f"unknown model {name!r} ({flag}); known specs: {', '.join(known_specs())}, or pass a "
        "local Hugging Face directory path"
    )


def model_shape(name: str) -> tuple[int, bool] | None:
    """(decoder blocks, has a learned positional embedding) of a model, from its ``config.json``
    or the built-in spec's known shape; None when it cannot be known without loading."""
    from activation_store.models.hooks import GPT2_LIKE
    from activation_store.models.loader import _looks_like_path, known_specs

    if name in SPEC_SHAPES and name in known_specs():
        return SPEC_SHAPES[name]
    if not _looks_like_path(name):
        return None
    config_path = Path(name).expanduser() / "config.json"
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
        n_layers = config.get("num_hidden_layers", config.get("n_layer"))
        architectures = config.get("architectures") or [""]
    except (OSError, ValueError, AttributeError):
        return None  # check_local_dir reports it
    if not isinstance(n_layers, int):
        return None
    return n_layers, architectures[0] in GPT2_LIKE


def check_hooks(model: str, hooks: Iterable[str], *, allow_pos_embed: bool = True) -> None:
    """Every hook exists in ``model`` (when its shape is known without loading it)."""
    from activation_store.models.hooks import parse_hook

    shape = model_shape(model)
    if shape is None:
        return
    n_layers, has_pos_embed = shape
    for hook in hooks:
        parse_hook(hook, n_layers, has_pos_embed=has_pos_embed and allow_pos_embed)


def check_output_file(
    path: str | Path, flag: str = "--out", *, create_parents: bool = False
) -> None:
    """``path`` can be written: not a directory, in an existing writable directory (or, with
    ``create_parents``, in one the command creates)."""
    p = Path(path).expanduser()
    if p.is_dir():
        raise InputError(f"{flag} {str(p)!r} is a directory; give a file path")
    parent = p.parent if str(p.parent) else Path(".")
    if parent.exists() and not parent.is_dir():
        raise InputError(f"{flag} {str(p)!r} cannot be created: {str(parent)!r} is a file")
    if create_parents and not parent.exists():
        check_output_dir(parent, flag)
        return
    if not parent.is_dir():
        raise InputError(
            f"directory {str(parent)!r} for {flag} does not exist; create it first or choose "
            f"another {flag}"
        )
    if not os.access(parent, os.W_OK | os.X_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise InputError(f"{flag} {str(p)!r} is not writable; choose another {flag}")


def check_output_dir(path: str | Path, flag: str = "--out") -> None:
    """``path`` is a directory or can be created as one (its nearest existing parent is writable)."""
    p = Path(path).expanduser()
    if p.exists() and not p.is_dir():
        raise InputError(f"{flag} {str(p)!r} is a file; give a directory")
    probe = p
    while not probe.exists():
        if probe == probe.parent:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise InputError(f"{flag} {str(p)!r} cannot be created: {str(probe)!r} is a file")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise InputError(f"{flag} {str(p)!r} is not writable ({str(probe)!r}); choose another")
