"""Package data: the LoRA adapter of ``smollm2-135m-reasoner`` (fp16) and its ``organism.json``,
and earlier or candidate organisms in ``<version>/`` subdirectories."""

VERSIONS = ("v5", "v6", "v8")
"""Organisms loadable by an explicit version (``smollm2-135m-reasoner-<version>``), each in
``organism_weights/<version>/``: v5 is the default's recipe (check lines); v6 and v8 are
candidates of issue #15 (no check lines, a lag, masked errors; v8 trained three times as long),
which fail their acceptance figures and so are not the default (see the model card). The one
list every registry of spec names derives from."""
