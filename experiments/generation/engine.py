"""Batched generation on a plain Hugging Face causal LM: left padding, KV cache, per-row stops.

This is the one generation engine of the toolkit: ``backtrack traces`` and the steering
experiments both call :func:`generate`. Prompts are sorted by length (longest first, so a batch
that does not fit fails at once) and decoded ``batch_size`` at a time by HF ``generate`` with the
KV cache; results come back in prompt order.

Steering: install forward hooks on HF modules (e.g. ``hf_model.model.layers[10]``) around the call.
In each batch the first forward call sees the whole left-padded prompt ``[batch, prompt_len]``,
every later call one new position per row ``[batch, 1]`` (``attention_mask`` marks pads). The
engine never copies the model and never adds or removes hooks; for the duration of a call it
swaps ``hf_model.generation_config`` for neutral defaults, so a checkpoint's own defaults (e.g.
R1-distill's ``do_sample=True, temperature=0.6``) never leak into greedy decoding.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from tqdm.auto import tqdm

from activation_store.core.errors import InputError
from experiments.generation.config import GenerationConfig
from experiments.generation.sampling import RowSampler, row_seeds
from experiments.generation.stopping import FinishReason, RowStops, StopRule, stop_rule

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Generation:
    """One prompt's continuation."""

    prompt_ids: list[int]
    """The prompt's token ids, as given."""
    generated_ids: list[int]
    """New tokens, up to and including the stop token (EOS or "</think>"); no padding."""
    text: str
    """``generated_ids`` decoded (special tokens kept, no whitespace clean-up)."""
    finish_reason: FinishReason
    """"eos", "think_end" ("</think>" emitted), "answer" (a final answer stated, with
    ``stop_at_answer``) or "length" (``max_new_tokens`` reached)."""


def generate(
    hf_model: Any,
    tokenizer: Any,
    prompts: Sequence[Sequence[int]],
    config: GenerationConfig,
    *,
    progress: bool = True,
    seeds: Sequence[int] | None = None,
    bar: tqdm | None = None,
) -> list[Generation]:
    """Continue every prompt (token ids) with ``hf_model``; results are in prompt order.

    ``seeds`` (one per prompt) overrides the per-prompt sampling streams derived from
    ``config.seed`` (see :func:`~experiments.generation.sampling.row_seeds`); greedy decoding
    ignores them. A progress bar counts generated tokens (tok/s); pass ``bar`` to count into a
    caller's bar instead (it is then neither created nor closed here). Hooks the caller installed
    on ``hf_model`` run on every forward call (see the module docstring).
    """
    prompt_lists = _checked_prompts(prompts, tokenizer)
    if seeds is not None and len(seeds) != len(prompt_lists):
        raise InputError(f"got {len(seeds)} seeds for {len(prompt_lists)} prompts; give one each")
    rule = stop_rule(
        tokenizer,
        hf_model,
        stop_at_think_end=config.stop_at_think_end,
        stop_at_answer=config.stop_at_answer,
    )
    all_seeds = list(seeds) if seeds is not None else row_seeds(config.seed, prompt_lists)
    order = sorted(range(len(prompt_lists)), key=lambda i: -len(prompt_lists[i]))
    results: list[Generation | None] = [None] * len(prompt_lists)
    own_bar = bar is None
    if bar is None:
        bar = tqdm(
            total=None, unit="tok", desc="generating", disable=not progress, dynamic_ncols=True
        )
    try:
        with _neutral_defaults(hf_model):
            for start in range(0, len(order), config.batch_size):
                batch = order[start : start + config.batch_size]
                outs = _generate_batch(
                    hf_model,
                    tokenizer,
                    [prompt_lists[i] for i in batch],
                    [all_seeds[i] for i in batch],
                    config,
                    rule,
                    bar,
                )
                for i, out in zip(batch, outs, strict=True):
                    results[i] = out
                if own_bar:
                    bar.set_postfix(prompts=f"{start + len(batch)}/{len(order)}", refresh=False)
    finally:
        if own_bar:
            bar.close()
    return [r for r in results if r is not None]


def _generate_batch(
    hf_model: Any,
    tokenizer: Any,
    prompts: list[list[int]],
    seeds: list[int],
    config: GenerationConfig,
    rule: StopRule,
    bar: tqdm,
) -> list[Generation]:
    from transformers import GenerationConfig as HFGenerationConfig
    from transformers import LogitsProcessorList, StoppingCriteriaList

    device = next(hf_model.parameters()).device
    pad_id = _pad_id(tokenizer, rule)
    ids_BP, mask_BP = left_pad(prompts, pad_id, device)
    stops = RowStops(
        rule,
        lambda ids: tokenizer.decode(ids, skip_special_tokens=False),
        prompt_len=ids_BP.shape[1],
        batch=len(prompts),
        on_step=bar.update,
    )
    processors = LogitsProcessorList()
    if not config.greedy:
        processors.append(
            RowSampler(seeds, temperature=config.temperature, top_p=config.top_p, device=device)
        )
    hf_config = HFGenerationConfig(
        max_new_tokens=config.max_new_tokens,
        do_sample=False,
        num_beams=1,
        pad_token_id=pad_id,
        eos_token_id=rule.eos_ids or None,
    )
    with torch.no_grad():
        out_BL = hf_model.generate(
            input_ids=ids_BP,
            attention_mask=mask_BP,
            generation_config=hf_config,
            logits_processor=processors,
            stopping_criteria=StoppingCriteriaList([stops]),
        )
    return _collect(tokenizer, prompts, out_BL[:, ids_BP.shape[1] :].tolist(), stops)


def _collect(
    tokenizer: Any, prompts: list[list[int]], new_BT: list[list[int]], stops: RowStops
) -> list[Generation]:
    """Cut each row at its stop token (rows that never stopped ran to the length limit)."""
    results = []
    for b, prompt in enumerate(prompts):
        finished = stops.finished[b]
        n, reason = finished if finished is not None else (len(new_BT[b]), "length")
        generated = new_BT[b][:n]
        text = tokenizer.decode(
            generated, skip_special_tokens=False, clean_up_tokenization_spaces=False
        )
        results.append(Generation(list(prompt), generated, text, reason))
    return results


def left_pad(
    prompts: Sequence[Sequence[int]], pad_id: int, device: torch.device | str = "cpu"
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(input_ids, attention_mask)``, both ``[batch, max_len]``, pads on the left."""
    width = max(len(p) for p in prompts)
    ids_BP = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    mask_BP = torch.zeros((len(prompts), width), dtype=torch.long)
    for b, prompt in enumerate(prompts):
        ids_BP[b, width - len(prompt) :] = torch.tensor(list(prompt), dtype=torch.long)
        mask_BP[b, width - len(prompt) :] = 1
    return ids_BP.to(device), mask_BP.to(device)


def _pad_id(tokenizer: Any, rule: StopRule) -> int:
    if tokenizer.pad_token_id is not None:
        return int(tokenizer.pad_token_id)
    if rule.eos_ids:
        return rule.eos_ids[0]
    return 0  # masked out anyway; only ever fed for padded positions


def _checked_prompts(prompts: Sequence[Sequence[int]], tokenizer: Any) -> list[list[int]]:
    vocab = len(tokenizer)
    out = []
    for i, prompt in enumerate(prompts):
        ids = [int(t) for t in prompt]
        if not ids:
            raise InputError(f"prompt {i} is empty; every prompt needs at least one token")
        if min(ids) < 0 or max(ids) >= vocab:
            raise InputError(
                f"prompt {i} has token id {max(ids) if max(ids) >= vocab else min(ids)} outside "
                f"the tokenizer's vocabulary of {vocab}; was it tokenized by another tokenizer?"
            )
        out.append(ids)
    return out


@contextlib.contextmanager
def _neutral_defaults(hf_model: Any) -> Iterator[None]:
    """Hide the checkpoint's ``generation_config`` defaults (sampling, penalties) during a call."""
    from transformers import GenerationConfig as HFGenerationConfig

    saved = hf_model.generation_config
    hf_model.generation_config = HFGenerationConfig()
    try:
        yield
    finally:
        hf_model.generation_config = saved
