"""The whole study in one command: traces → labels → store → directions and probes → SAE →
steering and ablation → findings → report (``backtrack study run``, ``backtrack demo``)."""
