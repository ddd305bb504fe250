"""The embedded model organism of reasoning finetuning: SmolLM2-135M → ``smollm2-135m-reasoner``.

Synthetic reasoning traces with ground-truth backtracking (:mod:`.traces`, :mod:`.families`,
written and read by :mod:`.trace_files`), their training examples (:mod:`.chat`), the base-model
pre-check (:mod:`.precheck`), LoRA SFT (:mod:`.finetune`, exported by :mod:`.export`), a
solver-based checker of generated traces (:mod:`.checker`, :mod:`.scoring`), the evaluation
(:mod:`.evaluate`, :mod:`.decision_eval`, :mod:`.eval_stage`, :mod:`.norms`), TopK SAEs trained with
sae_lens (:mod:`.sae_data`, :mod:`.sae_train`, :mod:`.sae_stage`), and ``backtrack organism build``
(:mod:`.config`, :mod:`.stages`, :mod:`.cli`). See MODEL_CARD.md.
"""
