from __future__ import annotations

import pytest

from tests.probes.helpers import Planted, planted_store


@pytest.fixture(scope="package")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Planted:
    """One planted store shared by the package's tests (read-only: copy it before writing)."""
    return planted_store(
        tmp_path_factory.mktemp("planted") / "store.h5", models=("base", "reasoner")
    )


@pytest.fixture(autouse=True)
def _one_blas_thread():
    """Tiny fits gain nothing from BLAS threads, and on a shared machine they lose ~10×."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield
