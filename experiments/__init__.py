"""`experiments`: the study itself, built on ``probes``, ``sae_analysis`` and ``activation_store``.

``cli.py`` is the ``backtrack`` command (each package registers its subcommands); ``prompts/`` the
prompt sets with worked solutions; ``generation/`` the batched, KV-cached decoding engine;
``traces/`` reasoning traces; ``labels/`` sentence labels (keyword lexicon, LLM judge) into the
store; ``steering/`` the intervention library (``interventions/``) and the sweep and ablation
experiments (``runs/``); ``report/`` the HTML report; ``organism/`` the model organism's build;
``study/`` the whole study as one resumable command, and its findings; ``configs/`` the built-in
study and run configs.
"""
