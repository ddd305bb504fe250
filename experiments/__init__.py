"""`experiments`: the command line, and (later) steering and ablation experiments and the report."""
