"""Save the chosen features as directions that the steering step loads.

For a decomposition of direction ``D`` with K chosen features, ``directory`` receives (in the shared
:class:`~activation_store.direction.Direction` format):

- ``D-sae_f<index>``: each chosen feature's raw decoder row (kind ``sae_feature``), with the SAE,
  the feature index, its OMP coefficient, rank and cosine in the provenance;
- ``D-sae_recon``: the K-feature reconstruction Σ c_i · W_dec[i] (kind ``sae_reconstruction``);
- ``D-sae_residual``: what the reconstruction leaves out, D − reconstruction (kind ``sae_residual``).

Steering with the reconstruction and with the residual separately tests whether the SAE-explained
part of the direction carries its effect.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import Tensor

from activation_store.direction import Direction, save_direction
from sae_analysis.dictionary import decoder_rows
from sae_analysis.loading import LoadedSae
from sae_analysis.result import Decomposition


def feature_directions(
    result: Decomposition, direction: Direction, sae: LoadedSae
) -> list[Direction]:
    """The chosen features, the reconstruction and the residual as :class:`Direction` objects."""
    sparse = result.sparse
    rows = decoder_rows(sae.sae.W_dec, list(sparse.indices))
    base = _provenance(result, direction, sae)

    def make(name: str, vector: Tensor, kind: str, extra: dict[str, Any]) -> Direction:
        return Direction(
            name=f"{direction.name}-{name}",
            vector=vector,
            model=direction.model,
            hook=direction.hook,
            kind=kind,
            mean_resid_norm=direction.mean_resid_norm,
            provenance={**base, **extra},
        )

    out = [
        make(
            f"sae_f{index}",
            rows[rank],
            "sae_feature",
            {
                "feature_index": index,
                "coefficient": coef,
                "omp_rank": rank + 1,
                "cosine": float(result.cosine.cosines[index]),
            },
        )
        for rank, (index, coef) in enumerate(zip(sparse.indices, sparse.coefficients, strict=True))
    ]
    chosen = {"feature_indices": list(sparse.indices)}
    out.append(make("sae_recon", sparse.reconstruction, "sae_reconstruction", chosen))
    out.append(
        make("sae_residual", direction.vector - sparse.reconstruction, "sae_residual", chosen)
    )
    return out


def _provenance(result: Decomposition, direction: Direction, sae: LoadedSae) -> dict[str, Any]:
    sparse = result.sparse
    return {
        "source_direction": direction.name,
        "sae_id": sae.sae_id,
        "sae_hook": sae.hook_name,
        "sae_model": sae.model_name,
        "d_sae": sae.d_sae,
        "k": sparse.steps,
        "explained_variance": sparse.explained_variance[-1] if sparse.steps else 0.0,
        "unexplained_share": sparse.unexplained_share,
    }


def save_feature_directions(
    result: Decomposition, direction: Direction, sae: LoadedSae, directory: str | Path
) -> list[Path]:
    """Write :func:`feature_directions` into ``directory``; returns the tensor paths."""
    return [save_direction(d, directory) for d in feature_directions(result, direction, sae)]
