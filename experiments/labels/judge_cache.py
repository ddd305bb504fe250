"""On-disk cache of judge replies, keyed by (model, prompt, text), so re-runs cost nothing.

One small JSON file per valid reply (``<dir>/<key[:2]>/<key>.json``), written atomically; a
corrupt entry is ignored (and overwritten by the next valid reply). Only replies that parsed are
cached, so a malformed or failed request is asked again next time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    """``$BACKTRACK_CACHE/judge`` (the toolkit's cache root, default ``~/.cache/backtrack-toolkit``)."""
    root = os.environ.get("BACKTRACK_CACHE")
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "backtrack-toolkit"
    return base / "judge"


def cache_key(model: str, messages: Sequence[Mapping[str, str]], temperature: float) -> str:
    """sha256 over the model, every message (prompt and sentences) and the temperature."""
    payload = json.dumps(
        {"model": model, "messages": list(messages), "temperature": temperature},
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


class ReplyCache:
    """Replies by key in ``directory`` (created on first write)."""

    def __init__(self, directory: str | Path = "") -> None:
        self.directory = Path(directory).expanduser() if str(directory) else default_cache_dir()

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> str | None:
        path = self._path(key)
        try:
            obj: Any = json.loads(path.read_text(encoding="utf-8"))
            return str(obj["content"])
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            log.warning("ignoring unreadable judge cache entry %s", path)
            return None

    def put(self, key: str, content: str, model: str) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(
            json.dumps({"model": model, "content": content}, ensure_ascii=False), "utf-8"
        )
        os.replace(tmp, path)
