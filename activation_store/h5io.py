"""Opening store files: atomic creation, lock-free readers, one-line errors for bad files."""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import h5py

from activation_store.core.errors import StoreError


def open_store_file(path: str | Path, mode: Literal["r", "r+"] = "r") -> h5py.File:
    """Open a store file.

    Readers (``mode="r"``) take no file lock and disable HDF5's sieve buffer, so they can follow a
    store that another process is caching into: raw data and the committed-row counters are read
    from disk each time (see SCHEMA.md, "Readers while writing"). Writers take HDF5's exclusive lock,
    so two writers cannot collide.
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
