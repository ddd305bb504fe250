"""The result of decomposing one direction: every method's result plus a per-feature table."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from activation_store.version import TOOLKIT_VERSION
from sae_analysis.config import DecomposeConfig
from sae_analysis.methods.cosine import CosineResult
from sae_analysis.methods.data_view import DataView, FeatureStats
from sae_analysis.methods.encoder import EncoderView
from sae_analysis.methods.sparse import SparseReconstruction
from sae_analysis.preflight import PreflightReport

RESULT_VERSION = 1


@dataclass(frozen=True, kw_only=True)
class FeatureReport:
    """Everything known about one reported feature."""

    index: int
    reasons: tuple[str, ...]
    """Why it is reported: ``omp`` (in the sparse reconstruction), ``cos+`` / ``cos-`` (top cosine)."""
    cosine: float
    """Cosine of its decoder row with the direction."""
    decoder_norm: float
    omp_rank: int | None
    """1-based step at which OMP chose it (None if not chosen)."""
    omp_coefficient: float | None
    """Final OMP coefficient on the raw decoder row."""
    contribution: float | None
    """coefficient · |W_dec row| / |direction|: signed share of the direction's length it supplies."""
    encoder_activation: float
    """Its activation on the direction scaled to the mean residual norm."""
    encoder_deltas: tuple[float, ...]
    """Its activation change at each α of the encoder view."""
    stats: FeatureStats | None
    """Statistics on the analysed model's traces."""
    compare_stats: FeatureStats | None = None
    """The same on the comparison model's traces."""

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["reasons"] = list(self.reasons)
        out["encoder_deltas"] = list(self.encoder_deltas)
        return out


@dataclass(frozen=True, kw_only=True)
class Decomposition:
    """A direction decomposed into an SAE's features (see ``sae_analysis`` for each part)."""

    direction: dict[str, Any]
    """The direction's metadata (name, model, hook, kind, norm, provenance)."""
    sae: dict[str, Any]
    """The SAE's description (:meth:`LoadedSae.describe`)."""
    config: DecomposeConfig
    preflight: PreflightReport
    cosine: CosineResult
    sparse: SparseReconstruction
    encoder: EncoderView
    data: DataView
    features: tuple[FeatureReport, ...]
    """Reported features: the OMP set in OMP order, then the top cosines not in it."""
    scale_source: str
    """Where the encoder view's scale came from: ``direction`` (its mean_resid_norm) or ``store``."""
    compare: DataView | None = None
    compare_reconstruction: dict[str, float] | None = None
    """SAE reconstruction figures on the comparison model (it may be out of distribution there)."""
    warnings: tuple[str, ...] = ()
    seconds: dict[str, float] = field(default_factory=dict)
    """Wall time of each stage."""

    @property
    def unexplained_share(self) -> float:
        """Share of the direction that the K-feature sparse reconstruction leaves unexplained."""
        return self.sparse.unexplained_share

    def feature(self, index: int) -> FeatureReport:
        return next(f for f in self.features if f.index == index)

    def to_dict(self) -> dict[str, Any]:
        return {
            "result_version": RESULT_VERSION,
            "toolkit_version": TOOLKIT_VERSION,
            "direction": self.direction,
            "sae": self.sae,
            "config": asdict(self.config),
            "preflight": self.preflight.to_dict(),
            "explained_variance": list(self.sparse.explained_variance),
            "unexplained_share": self.unexplained_share,
            "features": [f.to_dict() for f in self.features],
            "cosine": self.cosine.to_dict(),
            "sparse": self.sparse.to_dict(),
            "encoder": self.encoder.to_dict(),
            "encoder_scale_source": self.scale_source,
            "data": self.data.to_dict(),
            "contexts": {str(i): [c.to_dict() for c in cs] for i, cs in self.data.contexts.items()},
            "compare": self.compare.to_dict() if self.compare is not None else None,
            "compare_reconstruction": self.compare_reconstruction,
            "warnings": list(self.warnings),
            "seconds": self.seconds,
        }

    def save_json(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2, default=str) + "\n")
        return path
