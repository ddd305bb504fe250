"""`sae_analysis`: not implemented yet; see the open issue for this package."""
