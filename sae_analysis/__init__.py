"""`sae_analysis`: decompose residual-stream directions into sparse-autoencoder features.

Through sae_lens SAEs (a local directory, a built-in short name, or a pretrained release already in
the local Hugging Face cache), for a :class:`~activation_store.direction.Direction`:

- preflight: the SAE fits the direction's model and hook (``d_in``, hook name, reconstruction);
- cosine of the direction with every decoder row (with a chance level);
- the SAE's encoder on the direction, and on the mean activation pushed along it;
- sparse reconstruction (orthogonal matching pursuit), explained variance for k = 1…K and the
  share no K features explain;
- the chosen features' activations before backtracking in the store (AUROC, top contexts), on the
  base model and optionally the reasoning model;
- figures, HTML cards, and the chosen features saved as directions for steering.

Public names are imported lazily, so importing the package (and ``backtrack --help``) stays fast.
"""

from __future__ import annotations

from activation_store.core.lazy import lazy_exports

_EXPORTS = {
    "DecomposeConfig": "sae_analysis.config",
    "LoadedSae": "sae_analysis.loading",
    "load_sae": "sae_analysis.loading",
    "builtin_sae_names": "sae_analysis.loading",
    "PreflightReport": "sae_analysis.preflight",
    "preflight": "sae_analysis.preflight",
    "CosineResult": "sae_analysis.methods.cosine",
    "decoder_cosines": "sae_analysis.methods.cosine",
    "EncoderView": "sae_analysis.methods.encoder",
    "encoder_view": "sae_analysis.methods.encoder",
    "SparseReconstruction": "sae_analysis.methods.sparse",
    "sparse_reconstruction": "sae_analysis.methods.sparse",
    "DataView": "sae_analysis.methods.data_view",
    "FeatureStats": "sae_analysis.methods.data_view",
    "data_view": "sae_analysis.methods.data_view",
    "FeatureEncoder": "sae_analysis.subset",
    "Decomposition": "sae_analysis.result",
    "FeatureReport": "sae_analysis.result",
    "decompose": "sae_analysis.pipeline",
    "feature_directions": "sae_analysis.export",
    "save_feature_directions": "sae_analysis.export",
    "DecomposeOutputs": "sae_analysis.run",
    "run_decompose": "sae_analysis.run",
    "train_sae_on_store": "sae_analysis.train",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_exports(__name__, _EXPORTS, globals())
