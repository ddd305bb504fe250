"""Opening store files: atomic creation, lock-free readers, one-line errors for bad files."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import h5py

from activation_store.core.errors import StoreError

_DAMAGE = re.compile(
    r"signature|checksum|truncated|addr(?:ess)? overflow|bad (?:object header|heap|b-?tree|"
    r"symbol|local|global|version|flag|value|size|message)|b-tree|deprecated info|corrupt|"
    r"unable to load|unable to read|can't (?:read|load|decode|get)|not a valid|out of bounds",
    re.IGNORECASE,
)
"""What HDF5 says when a file's metadata (object headers, B-trees, heaps) is damaged."""
DAMAGE_RETRIES = 20
"""Re-opens (50 ms apart) before a reader calls unreadable metadata damage rather than a writer's
change in progress (a writer adding a model or label rewrites metadata for a few milliseconds)."""


class StoreDamaged(StoreError):
    """The store's HDF5 metadata or chunk index cannot be read: bytes inside it are damaged."""


def is_damage(err: BaseException) -> bool:
    """Whether an h5py error reads as damaged metadata (not a missing object or a lock)."""
    text = str(err)
    return (
        isinstance(err, RuntimeError | OSError | KeyError | ValueError)
        and bool(_DAMAGE.search(text))
        and "doesn't exist" not in text
    )


def damaged(path: str | Path, err: BaseException) -> StoreDamaged:
    """The one-line error for a store whose metadata is damaged."""
    detail = " ".join(str(err).strip("\"'").split())[:200]
    return StoreDamaged(
        f"store {str(path)!r} is damaged: HDF5 cannot read its metadata ({detail}); nothing was "
        "changed: restore it from a copy, or rebuild it with `backtrack cache --overwrite`"
    )


@contextlib.contextmanager
def damage_as_store_error(path: str | Path) -> Iterator[None]:
    """Turn h5py errors that mean damage into :class:`StoreDamaged` naming ``path``."""
    try:
        yield
    except StoreError:
        raise
    except (RuntimeError, OSError, KeyError, ValueError) as err:
        if is_damage(err):
            raise damaged(path, err) from err
        raise


def check_structure(f: h5py.File) -> None:
    """Read every group's and dataset's metadata (headers, attributes, chunk index) once: damaged
    bytes anywhere in it raise here, before any work, instead of midway through a command."""

    def visit(name: str, obj: h5py.Group | h5py.Dataset) -> None:
        list(obj.attrs.keys())
        if isinstance(obj, h5py.Dataset) and obj.chunks is not None:
            obj.id.get_num_chunks()

    list(f.attrs.keys())
    f.visititems(visit)


def open_store_file(path: str | Path, mode: Literal["r", "r+"] = "r") -> h5py.File:
    """Open a store file.

    Readers (``mode="r"``) take no file lock and disable HDF5's sieve buffer, so they can follow a
    store that another process is caching into: raw data and the committed-row counters are read
    from disk each time (see SCHEMA.md, "Readers while writing"). Writers take HDF5's exclusive lock,
    so two writers cannot collide. Every object's metadata is read once on opening
    (:func:`check_structure`): a damaged file raises :class:`StoreDamaged` naming it.
    """
    path = Path(path)
    if not path.exists():
        raise StoreError(f"store {str(path)!r} does not exist; create it with `backtrack cache`")
    if path.is_dir():
        raise StoreError(f"store path {str(path)!r} is a directory; give the .h5 file")
    if mode == "r+" and not os.access(path, os.W_OK):
        raise StoreError(
            f"store {str(path)!r} is read-only; copy it somewhere writable or chmod u+w"
        )
    tries = DAMAGE_RETRIES if mode == "r" else 1
    for attempt in range(tries):
        f = _open(path, mode)
        try:
            check_structure(f)
            return f
        except (RuntimeError, OSError, KeyError, ValueError) as err:
            f.close()
            if attempt + 1 < tries:
                time.sleep(0.05)
                continue
            if is_damage(err):
                raise damaged(path, err) from err
            raise StoreError(
                f"cannot read the structure of store {str(path)!r}: "
                f"{' '.join(str(err).split())[:200]}"
            ) from err
    raise AssertionError("unreachable")


def _open(path: Path, mode: Literal["r", "r+"]) -> h5py.File:
    try:
        if mode == "r":
            fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
            fapl.set_sieve_buf_size(0)
            fapl.set_file_locking(False, True)
            fid = h5py.h5f.open(os.fsencode(path), h5py.h5f.ACC_RDONLY, fapl=fapl)
            return h5py.File(fid)
        return h5py.File(path, "r+")
    except BlockingIOError as err:
        raise StoreError(
            f"store {str(path)!r} is locked by another writer; wait for it to finish"
        ) from err
    except OSError as err:
        if err.errno in (errno.EACCES, errno.EROFS, errno.EPERM):
            raise StoreError(f"store {str(path)!r} is not writable ({err.strerror})") from err
        if "already open" in str(err).lower():
            raise StoreError(
                f"store {str(path)!r} is already open in this process (an ActivationStore?); "
                "close it before writing to the store"
            ) from err
        if (
            "unable to lock" in str(err).lower()
            or "resource temporarily unavailable" in str(err).lower()
        ):
            raise StoreError(
                f"store {str(path)!r} is locked by another writer; wait for it to finish"
            ) from err
        raise StoreError(
            f"{str(path)!r} is not a readable HDF5 activation store (corrupt or truncated?): "
            f"{str(err).splitlines()[0]}"
        ) from err


@contextlib.contextmanager
def atomic_new_file(path: str | Path) -> Iterator[h5py.File]:
    """Create ``path`` through a temporary file renamed into place only when complete."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.exists():
        raise StoreError(f"directory {str(parent)!r} for the store does not exist; create it first")
    if not os.access(parent, os.W_OK):
        raise StoreError(f"directory {str(parent)!r} is not writable; choose another --out")
    tmp = path.with_name(f".{path.name}.creating")
    try:
        with h5py.File(tmp, "w", track_order=True) as f:
            yield f
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def check_store_file(f: h5py.File, path: str | Path) -> None:
    """Refuse files that are HDF5 but not a store of a schema this toolkit reads."""
    from activation_store.schema import SCHEMA_VERSION, TOKEN_IDS

    version = f.attrs.get("schema_version")
    if version is None or TOKEN_IDS not in f:
        raise StoreError(f"{str(path)!r} is an HDF5 file but not an activation store (no schema)")
    if int(version) > SCHEMA_VERSION:
        raise StoreError(
            f"store {str(path)!r} has schema version {int(version)}, newer than this toolkit's "
            f"{SCHEMA_VERSION}; upgrade backtrack-toolkit"
        )
