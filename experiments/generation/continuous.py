"""Continuous batching on a plain Hugging Face causal LM: finished rows leave, waiting rows join.

:func:`stream` is a decode loop over one KV cache (not one HF ``generate`` call per batch). Up to
``config.batch_size`` rows decode together; a row that ends (EOS, "</think>", length) leaves the
batch at once, and waiting prompts are prefilled and join it (``refill``: on an accelerator as
soon as a quarter of the slots are free, so prefills are batched; on a CPU at once). Rows can
belong to different experiment conditions: the caller learns, before every forward call, which
request each row is and how long its prompt is (``on_forward``), and can steer each row
differently (see
:func:`experiments.steering.interventions.rows.steer_hf_rows`).

Results are the same as :func:`experiments.generation.engine.generate`'s for the same prompts,
seeds and settings (tested: greedy and seeded sampling, any batch composition): positions are
computed from each row's own attention mask as HF ``generate`` does (``cumsum - 1``), the last
position's logits are taken in float32, and each row samples from its own seeded stream (one draw
per generated token), so a row's tokens do not depend on its batch-mates or on when it joined.
Only float rounding of differently padded batches can differ, as between two batch sizes of
``generate``.

The cache is HF's :class:`~transformers.DynamicCache`; rows join by left-padding the new rows'
cache (or the batch's) to a common width, and columns that are padding in every row are cut.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from tqdm.auto import tqdm

from activation_store.core.errors import InputError
from experiments.generation.answers import opens_thinking
from experiments.generation.config import GenerationConfig
from experiments.generation.engine import (
    Generation,
    _checked_prompts,
    _neutral_defaults,
    _pad_id,
    left_pad,
)
from experiments.generation.sampling import nucleus_probs, row_seeds
from experiments.generation.stopping import AnswerWatch, FinishReason, StopRule, stop_rule

OnForward = Callable[[Sequence[int], Sequence[int], Sequence[Sequence[int]] | None], None]
"""Called before every forward call with, per batch row, the request index (into the prompts of
the call), that request's prompt length and — for the forward of a shared prompt prefix, else
None — the requests that will reuse the row's cache (itself included)."""

MIN_SHARED_PREFIX = 8
"""Shortest common prompt prefix worth computing once per group (``share_prefix``)."""

REFILL = 0.25
"""On an accelerator, waiting prompts join when at least this share of the batch's slots is free
(or none is busy): every forward call reads all the weights, so prefills are batched. On a CPU,
compute-bound, a prefill costs its tokens whenever it runs, so a prompt joins as soon as one slot
is free (measured on smollm2-135m, a demo-sized sweep on one core: 91 s against 104 s at 0.25,
identical tokens)."""


@dataclass
class _Row:
    request: int
    prompt_len: int
    generator: torch.Generator | None
    generated: list[int] = field(default_factory=list)
    finished: tuple[int, FinishReason] | None = None
    answer: AnswerWatch | None = None
    """Watches for a finished answer statement (``stop_at_answer`` only)."""


def stream(
    hf_model: Any,
    tokenizer: Any,
    prompts: Sequence[Sequence[int]],
    config: GenerationConfig,
    *,
    seeds: Sequence[int] | None = None,
    on_forward: OnForward | None = None,
    bar: tqdm | None = None,
    refill: float | None = None,
    groups: Sequence[Hashable] | None = None,
    share_prefix: bool = True,
) -> Iterator[list[tuple[int, Generation]]]:
    """Generate every prompt; yields ``(request index, generation)`` pairs as rows finish.

    Prompts join the batch in the order given (sort them longest first for less padding).
    ``seeds`` (one per prompt) are the per-prompt sampling streams (default: derived from
    ``config.seed`` and each prompt's own tokens, so independent of the others); greedy decoding
    ignores them. Between two yields the caller may run other forward passes on the model.

    ``share_prefix``: the longest prompt prefix common to a group's requests (``groups``, one key
    per prompt; default: one group) is run once, when the group's first request joins, and its
    KV cache is reused by every request of the group, which then prefills only the rest of its
    prompt (a chat template's system prompt is most of a short prompt). Requests of one group
    must be treated alike by any hooks at those prefix positions (e.g. one steering cell).
    """
    prompt_lists = _checked_prompts(prompts, tokenizer)
    if seeds is not None and len(seeds) != len(prompt_lists):
        raise InputError(f"got {len(seeds)} seeds for {len(prompt_lists)} prompts; give one each")
    if refill is not None and not 0 < refill <= 1:
        raise InputError(f"refill={refill} must be in (0, 1]")
    rule = stop_rule(
        tokenizer,
        hf_model,
        stop_at_think_end=config.stop_at_think_end,
        stop_at_answer=config.stop_at_answer,
    )
    all_seeds = (
        list(seeds) if seeds is not None else [row_seeds(config.seed, [p])[0] for p in prompt_lists]
    )
    loop = _Loop(hf_model, tokenizer, config, rule, on_forward, bar)
    if share_prefix:
        loop.plan_prefixes(prompt_lists, groups)
    if refill is None:  # see REFILL
        refill = REFILL if loop.device.type != "cpu" else 1 / config.batch_size
    min_free = max(1, math.ceil(refill * config.batch_size))
    queue = list(range(len(prompt_lists)))[::-1]  # pop() from the end = next in order
    with _neutral_defaults(hf_model), torch.no_grad():
        while queue or loop.rows:
            free = config.batch_size - len(loop.rows)
            if queue and (free >= min_free or not loop.rows):
                joining = [queue.pop() for _ in range(min(free, len(queue)))]
                loop.prefill(
                    [
                        _Row(
                            i,
                            len(prompt_lists[i]),
                            None if config.greedy else _generator(all_seeds[i], loop.device),
                        )
                        for i in joining
                    ],
                    [prompt_lists[i] for i in joining],
                )
            else:
                loop.decode()
            done = loop.leave()
            if done:
                yield [(row.request, loop.result(row, prompt_lists[row.request])) for row in done]


def generate_continuous(
    hf_model: Any,
    tokenizer: Any,
    prompts: Sequence[Sequence[int]],
    config: GenerationConfig,
    *,
    seeds: Sequence[int] | None = None,
    on_forward: OnForward | None = None,
    progress: bool = True,
    groups: Sequence[Hashable] | None = None,
    share_prefix: bool = True,
) -> list[Generation]:
    """:func:`stream` collected in prompt order (prompts join longest first)."""
    order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
    checked = _checked_prompts(prompts, tokenizer)
    all_seeds = (
        list(seeds) if seeds is not None else [row_seeds(config.seed, [p])[0] for p in checked]
    )
    results: list[Generation | None] = [None] * len(prompts)

    def forward(
        requests: Sequence[int], lengths: Sequence[int], shared: Sequence[Sequence[int]] | None
    ) -> None:
        if on_forward is not None:
            back = None if shared is None else [[order[r] for r in rs] for rs in shared]
            on_forward([order[r] for r in requests], lengths, back)

    with tqdm(total=None, unit="tok", desc="generating", disable=not progress) as bar:
        for finished in stream(
            hf_model,
            tokenizer,
            [checked[i] for i in order],
            config,
            seeds=[all_seeds[i] for i in order],
            on_forward=forward,
            bar=bar,
            groups=None if groups is None else [groups[i] for i in order],
            share_prefix=share_prefix,
        ):
            for r, out in finished:
                results[order[r]] = out
    return [r for r in results if r is not None]


def _generator(seed: int, device: torch.device) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(int(seed))


class _Loop:
    """The batch being decoded: its rows, their KV cache, attention mask and last tokens."""

    def __init__(
        self,
        hf_model: Any,
        tokenizer: Any,
        config: GenerationConfig,
        rule: StopRule,
        on_forward: OnForward | None,
        bar: tqdm | None,
    ) -> None:
        self.model = hf_model
        self.tokenizer = tokenizer
        self.config = config
        self.rule = rule
        self.on_forward = on_forward
        self.bar = bar
        self.device = next(hf_model.parameters()).device
        self.pad_id = _pad_id(tokenizer, rule)
        parameters = inspect.signature(hf_model.forward).parameters
        self.keep_last = "logits_to_keep" in parameters
        # transformers ≥ 5.2x names the cache argument `cache`, earlier versions `past_key_values`
        self.cache_arg = "cache" if "cache" in parameters else "past_key_values"
        self.rows: list[_Row] = []
        self.prefix_of: dict[int, int] = {}  # request → its group's shared prefix length
        self.group_of: dict[int, Hashable] = {}
        self.members: dict[Hashable, list[int]] = {}
        self.prefix_kv: dict[Hashable, list[tuple[torch.Tensor, torch.Tensor]]] = {}
        self.cache: Any = None
        self.mask_BS: torch.Tensor | None = None
        self.last_B1: torch.Tensor | None = None

    def plan_prefixes(self, prompts: list[list[int]], groups: Sequence[Hashable] | None) -> None:
        """Find each group's common prompt prefix (kept if ≥ MIN_SHARED_PREFIX tokens)."""
        keys: Sequence[Hashable] = [0] * len(prompts) if groups is None else groups
        if len(keys) != len(prompts):
            raise InputError(f"got {len(keys)} groups for {len(prompts)} prompts; give one each")
        members: dict[Hashable, list[int]] = {}
        for i, key in enumerate(keys):
            members.setdefault(key, []).append(i)
        for key, requests in members.items():
            if len(requests) < 2:
                continue
            first = prompts[requests[0]]
            n = min(len(prompts[i]) for i in requests) - 1  # the last prompt token is always run
            for i in requests[1:]:
                other = prompts[i]
                n = min(n, next((j for j in range(n) if first[j] != other[j]), n))
            if n >= MIN_SHARED_PREFIX:
                self.members[key] = requests
                for i in requests:
                    self.prefix_of[i], self.group_of[i] = n, key

    def _prefix(self, row: _Row, prompt: list[int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The cache of ``row``'s group prefix (computed on first use; one row)."""
        from transformers import DynamicCache

        key = self.group_of[row.request]
        if key not in self.prefix_kv:
            n = self.prefix_of[row.request]
            ids_1P = torch.tensor([prompt[:n]], device=self.device)
            cache = DynamicCache(config=self.model.config)
            self._forward([row], ids_1P, torch.ones_like(ids_1P), cache, [self.members[key]])
            self.prefix_kv[key] = [
                (layer.keys, layer.values)  # type: ignore[union-attr,misc]
                for layer in cache.layers
            ]
        return self.prefix_kv[key]

    def _forward(
        self,
        rows: list[_Row],
        ids_BT: torch.Tensor,
        mask_BS: torch.Tensor,
        cache: Any,
        shared: list[list[int]] | None = None,
    ) -> torch.Tensor:
        if self.on_forward is not None:
            self.on_forward([r.request for r in rows], [r.prompt_len for r in rows], shared)
        n = ids_BT.shape[1]
        position_BS = (mask_BS.cumsum(-1) - 1).masked_fill(mask_BS == 0, 0)
        kwargs: dict[str, Any] = {"logits_to_keep": 1} if self.keep_last else {}
        out = self.model(
            input_ids=ids_BT,
            attention_mask=mask_BS,
            position_ids=position_BS[:, -n:],
            use_cache=True,
            **{self.cache_arg: cache},
            **kwargs,
        )
        return out.logits[:, -1, :].to(dtype=torch.float32)

    def prefill(self, rows: list[_Row], prompts: list[list[int]]) -> None:
        from transformers import DynamicCache

        cache = DynamicCache(config=self.model.config)
        if not hasattr(cache, "layers"):
            raise InputError("continuous batching needs transformers >= 4.56 (layered caches)")
        if self.rule.answer:
            for row, prompt in zip(rows, prompts, strict=True):
                tail = self.tokenizer.decode(prompt[-32:], skip_special_tokens=False)
                row.answer = AnswerWatch(self.rule, self._decode, thinking=opens_thinking(tail))
        shared = [self.prefix_of.get(r.request, 0) for r in rows]
        width = max(shared)
        if width == 0:
            ids_BP, mask_BP = left_pad(prompts, self.pad_id, self.device)
        else:  # [pad | shared prefix (from its cache) | pad | rest of the prompt]
            prefixes = [
                self._prefix(r, p) if n else None
                for r, p, n in zip(rows, prompts, shared, strict=True)
            ]
            like = next(p for p in prefixes if p is not None)
            ids_BP, rest_BP = left_pad(
                [p[n:] for p, n in zip(prompts, shared, strict=True)], self.pad_id, self.device
            )
            head_BW = torch.zeros(len(rows), width, dtype=rest_BP.dtype, device=self.device)
            for b, n in enumerate(shared):
                head_BW[b, width - n :] = 1
            mask_BP = torch.cat([head_BW, rest_BP], dim=1)
            for i in range(len(cache.layers)):
                keys, values = [], []
                for kv in prefixes:
                    k, v = kv[i] if kv is not None else (like[i][0][:, :, :0], like[i][1][:, :, :0])
                    keys.append(_pad_left(k, width))
                    values.append(_pad_left(v, width))
                cache.update(torch.cat(keys), torch.cat(values), i)
        logits_BV = self._forward(rows, ids_BP, mask_BP, cache)
        tokens = self._sample(rows, logits_BV)
        self._join(rows, cache, mask_BP, tokens)
        for row in rows:  # a group's prefix is dropped once its last request has joined
            key = self.group_of.get(row.request)
            if key is not None:
                waiting = self.members[key]
                waiting.remove(row.request)
                if not waiting:
                    self.prefix_kv.pop(key, None)

    def decode(self) -> None:
        assert self.mask_BS is not None and self.last_B1 is not None
        ones = torch.ones_like(self.mask_BS[:, :1])
        self.mask_BS = torch.cat([self.mask_BS, ones], dim=1)
        logits_BV = self._forward(self.rows, self.last_B1, self.mask_BS, self.cache)
        self.last_B1 = self._sample(self.rows, logits_BV)

    def _sample(self, rows: list[_Row], logits_BV: torch.Tensor) -> torch.Tensor:
        if self.config.greedy:
            tokens_B = logits_BV.argmax(dim=-1)
        else:
            probs_BV = nucleus_probs(logits_BV, self.config.temperature, self.config.top_p)
            tokens_B = torch.cat(
                [
                    torch.multinomial(probs_BV[b], 1, generator=row.generator)
                    for b, row in enumerate(rows)
                ]
            )
        for row, token in zip(rows, tokens_B.tolist(), strict=True):
            row.generated.append(int(token))
            row.finished = self._stop(row)
        if self.bar is not None:
            self.bar.update(len(rows))
        return tokens_B[:, None]

    def _decode(self, ids: list[int]) -> str:
        return str(self.tokenizer.decode(ids, skip_special_tokens=False))

    def _stop(self, row: _Row) -> tuple[int, FinishReason] | None:
        n = len(row.generated)
        reason = self.rule.token_reasons.get(row.generated[-1])
        if reason is None and self.rule.think_text is not None:
            tail = row.generated[-self.rule.think_window :]
            if self.rule.think_text in self.tokenizer.decode(tail, skip_special_tokens=False):
                reason = "think_end"
        if reason is None and row.answer is not None and row.answer.done(row.generated):
            reason = "answer"
        if reason is None and n >= self.config.max_new_tokens:
            reason = "length"
        return None if reason is None else (n, reason)

    def _join(
        self, rows: list[_Row], cache: Any, mask_BP: torch.Tensor, last: torch.Tensor
    ) -> None:
        """Append prefilled rows (their cache and mask) to the batch, left-padding to one width."""
        if not self.rows:
            self.rows, self.cache, self.mask_BS, self.last_B1 = rows, cache, mask_BP, last
            return
        assert self.mask_BS is not None and self.last_B1 is not None
        width = max(self.mask_BS.shape[1], mask_BP.shape[1])
        for old, new in zip(self.cache.layers, cache.layers, strict=True):
            old.keys = torch.cat([_pad_left(old.keys, width), _pad_left(new.keys, width)])
            old.values = torch.cat([_pad_left(old.values, width), _pad_left(new.values, width)])
        self.mask_BS = torch.cat(
            [_pad_left(self.mask_BS, width, dim=1), _pad_left(mask_BP, width, dim=1)]
        )
        self.last_B1 = torch.cat([self.last_B1, last])
        self.rows = self.rows + rows

    def leave(self) -> list[_Row]:
        """Remove finished rows from the batch (and cache columns no row needs any more)."""
        done = [row for row in self.rows if row.finished is not None]
        if not done:
            return []
        keep = [b for b, row in enumerate(self.rows) if row.finished is None]
        self.rows = [self.rows[b] for b in keep]
        if not keep:
            self.cache = self.mask_BS = self.last_B1 = None
            return done
        assert self.mask_BS is not None and self.last_B1 is not None
        index = torch.tensor(keep, device=self.device)
        mask_BS = self.mask_BS.index_select(0, index)
        # cache columns that are padding in every remaining row carry nothing: cut them
        start = int((mask_BS.sum(dim=0) > 0).nonzero()[0, 0]) if mask_BS.numel() else 0
        for layer in self.cache.layers:
            layer.keys = layer.keys.index_select(0, index)[:, :, start:]
            layer.values = layer.values.index_select(0, index)[:, :, start:]
        self.mask_BS = mask_BS[:, start:]
        self.last_B1 = self.last_B1.index_select(0, index)
        return done

    def result(self, row: _Row, prompt: list[int]) -> Generation:
        assert row.finished is not None
        n, reason = row.finished
        generated = row.generated[:n]
        text = self.tokenizer.decode(
            generated, skip_special_tokens=False, clean_up_tokenization_spaces=False
        )
        return Generation(list(prompt), generated, text, reason)


def _pad_left(tensor: torch.Tensor, width: int, dim: int = 2) -> torch.Tensor:
    """Zeros on the left of ``dim`` up to ``width`` (cache: ``[batch, heads, seq, head_dim]``)."""
    missing = width - tensor.shape[dim]
    if missing <= 0:
        return tensor
    shape = list(tensor.shape)
    shape[dim] = missing
    return torch.cat([tensor.new_zeros(shape), tensor], dim=dim)
