"""The embedded model organism of reasoning finetuning: SmolLM2-135M → ``smollm2-135m-reasoner``.

Synthetic reasoning traces with ground-truth backtracking (:mod:`.traces`, :mod:`.families`), LoRA
SFT (:mod:`.finetune`), a solver-based checker of generated traces (:mod:`.checker`,
:mod:`.scoring`), the evaluation (:mod:`.evaluate`), TopK SAEs trained with sae_lens
(:mod:`.sae_train`), and ``backtrack organism build`` (:mod:`.build`). See MODEL_CARD.md.
"""
