"""The probe-fitting backends by name (``--backend sklearn|torch``); see :mod:`probes.fitting`."""

from __future__ import annotations

from typing import Literal

from probes.fitting import Fitter


def get_fitter(backend: Literal["sklearn", "torch"], device: str = "cpu") -> Fitter:
    if backend == "sklearn":
        from probes.logistic_sklearn import fit_sklearn

        return fit_sklearn
    from probes.logistic_torch import TorchFitter

    return TorchFitter(device=device)
