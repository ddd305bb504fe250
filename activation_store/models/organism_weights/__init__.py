"""Package data: the LoRA adapter of ``smollm2-135m-reasoner`` (fp16) and its ``organism.json``."""
