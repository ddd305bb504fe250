"""The ground floor every package stands on; nothing here knows about stores, models or backtracking.

- :mod:`~activation_store.core.errors`: the one-line user errors (``ToolkitError`` and kin);
- :mod:`~activation_store.core.configs`: frozen config dataclasses as Python API, TOML file and
  command line at once (``add_config_arguments``, ``load_config``, ``to_argv``);
- :mod:`~activation_store.core.stats`: estimates, paired comparisons and bootstraps, used by
  probes, steering, the organism's scoring and the study's findings;
- :mod:`~activation_store.core.lazy` and :mod:`~activation_store.core.threads`: lazy package
  exports and the CPU thread pools.
"""
