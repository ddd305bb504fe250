"""Decomposition methods, one module each, each with its own result type.

- :mod:`~sae_analysis.methods.cosine`: cosine of the direction with every decoder row.
- :mod:`~sae_analysis.methods.encoder`: the SAE's encoder applied to the direction.
- :mod:`~sae_analysis.methods.sparse`: the direction as a sparse signed combination of decoder rows.
- :mod:`~sae_analysis.methods.data_view`: the chosen features' activations on the stored traces.
"""
