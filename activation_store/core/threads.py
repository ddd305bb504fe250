"""CPU threads of every numeric library at once: torch's intra-op pool and the BLAS/OpenMP pools
of numpy, scipy and scikit-learn.

On a small, busy machine the libraries' default (one thread per core) makes every operation wait
for a core another process holds; one thread each is then many times faster.
"""

from __future__ import annotations

from typing import Any

_limits: Any = None
_set: int | None = None


def set_threads(n: int) -> None:
    """Use ``n`` threads in torch and in numpy/scipy/scikit-learn's BLAS and OpenMP pools."""
    global _limits, _set
    import torch
    from threadpoolctl import threadpool_limits

    if n < 1:
        raise ValueError(f"threads={n} must be ≥ 1")
    torch.set_num_threads(n)
    _limits = threadpool_limits(limits=n)  # kept alive: the limit holds until the process ends
    _set = n


def threads_set() -> int | None:
    """The ``n`` of this process's last :func:`set_threads` (None: never called), for child
    processes that should run under the same limit."""
    return _set
