"""Keep the Hugging Face hub offline while we load models: nothing may be downloaded."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

OFFLINE_VARS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")


@contextlib.contextmanager
def offline_hub() -> Iterator[None]:
    """Set ``HF_HUB_OFFLINE=1`` (and ``TRANSFORMERS_OFFLINE=1``) for the duration, then restore.

    ``huggingface_hub`` reads the variable once at import, so its module constant is switched
    too; every hub request then fails at once instead of retrying for ~25 s.
    """
    from huggingface_hub import constants

    saved_env = {name: os.environ.get(name) for name in OFFLINE_VARS}
    saved_constant = constants.HF_HUB_OFFLINE
    for name in OFFLINE_VARS:
        os.environ[name] = "1"
    constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = saved_constant
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
