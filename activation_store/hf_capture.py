"""Capturing TransformerLens-named hooks straight from a Hugging Face model (the default path).

No TransformerLens conversion: forward hooks on the HF modules that hold the same tensors as the
TL hooks (:func:`~activation_store.models.hooks.hf_module_path` says which), and the forward pass
is cut short by an exception as soon as every requested hook has fired, so blocks after the last
needed one (and the final norm and unembedding) never run. Each hook's rows (pads dropped) are
converted to the store dtype on the device, after their finiteness and float16 range are checked
there too, so the host only receives what it writes.

:func:`load_capture_model` loads the weights straight to the device (``device_map``): an 8B model
never has a full copy on the CPU. A model too big for one GPU is split over all of them
(``ModelConfig.device_map``, accelerate): inputs go to the first parameter's device, and each hook
converts its rows where its block lives.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from activation_store.models.config import ModelConfig
from activation_store.models.hooks import GPT2_LIKE, LLAMA_LIKE, HookSpec

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

log = logging.getLogger(__name__)

STORE_TORCH_DTYPES = {"float16": torch.float16, "float32": torch.float32}
FLOAT16_MAX = 65504.0


@dataclass(frozen=True)
class CaptureModel:
    """A Hugging Face causal LM ready for capture, with what the store records about it."""

    hf_model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    model_id: str
    """Spec name or resolved local directory."""
    architecture: str
    fingerprint: str
    """:func:`~activation_store.models.fingerprint.weights_fingerprint` of the HF model."""
    config: ModelConfig
    n_ctx: int
    """Longest sequence accepted (``config.n_ctx`` or the checkpoint's position limit)."""

    @property
    def n_layers(self) -> int:
        return int(_hf_cfg(self.hf_model, "num_hidden_layers", "n_layer"))

    @property
    def d_model(self) -> int:
        return int(_hf_cfg(self.hf_model, "hidden_size", "n_embd"))

    @property
    def has_pos_embed(self) -> bool:
        return self.architecture in GPT2_LIKE

    @property
    def device(self) -> torch.device:
        return next(self.hf_model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.hf_model.parameters()).dtype


def _hf_cfg(model: Any, *names: str) -> Any:
    for name in names:
        value = getattr(model.config, name, None)
        if value is not None:
            return value
    raise AttributeError(f"config has none of {names}")


def load_capture_model(config: ModelConfig) -> CaptureModel:
    """Load ``config.model`` as a plain HF model for capture: weights go straight to the device."""
    from activation_store.core.errors import ModelLoadError
    from activation_store.models import loader
    from activation_store.models.device import resolve_device, resolve_dtype
    from activation_store.models.fingerprint import weights_fingerprint
    from activation_store.models.hf_local import check_local_dir, load_local_hf

    device = resolve_device(config.device)
    dtype = resolve_dtype(config.dtype)
    if config.model in loader.known_specs():
        if config.device_map is not None:
            raise ModelLoadError(
                f"device_map splits a local checkpoint directory; {config.model!r} is a spec "
                "built in memory (it fits one device): drop --device-map"
            )
        hf_model, tokenizer, model_id, architecture = loader._load_hf(config)
        hf_model = loader._moved(hf_model, device=device)
    elif loader._looks_like_path(config.model):
        checkpoint = check_local_dir(config.model)
        hf_model, tokenizer = load_local_hf(
            checkpoint, dtype=dtype, device=device, device_map=config.device_map
        )
        model_id, architecture = str(checkpoint.path), checkpoint.architecture
    else:
        raise ModelLoadError(
            f"unknown model {config.model!r}; known specs: {', '.join(loader.known_specs())}, or "
            "pass a local Hugging Face directory path"
        )
    hf_model.eval()
    limit = _hf_cfg(hf_model, "max_position_embeddings", "n_positions")
    fingerprint = weights_fingerprint(hf_model)
    log.info(
        "loaded %s (%s) on %s for capture; fingerprint %s",
        model_id,
        architecture,
        device,
        fingerprint,
    )
    return CaptureModel(
        hf_model=hf_model,
        tokenizer=tokenizer,
        model_id=model_id,
        architecture=architecture,
        fingerprint=fingerprint,
        config=config,
        n_ctx=int(config.n_ctx or limit),
    )


class _Done(Exception):
    """Raised by the last hook that fires: the rest of the forward pass is not needed."""


def _layout(model: Any, architecture: str) -> dict[str, Any]:
    if architecture in LLAMA_LIKE:
        base = model.model
        return {"embed": base.embed_tokens, "pos": None, "layers": base.layers,
                "attn": "self_attn", "mlp": "mlp", "ln2": "post_attention_layernorm"}  # fmt: skip
    if architecture in GPT2_LIKE:
        base = model.transformer
        return {"embed": base.wte, "pos": base.wpe, "layers": base.h,
                "attn": "attn", "mlp": "mlp", "ln2": "ln_2"}  # fmt: skip
    from activation_store.core.errors import InputError

    raise InputError(f"no Hugging Face module map for {architecture!r}")


def _first(x: Any) -> torch.Tensor:
    return x[0] if isinstance(x, tuple | list) else x


class HookCapture:
    """Forward hooks on ``model`` for ``specs``; :meth:`run` returns each hook's tensor.

    ``run(input_ids)`` → ``{hook: [batch, pos, d_model]}``, the tensors TransformerLens's hooks of
    the same names see on the unprocessed conversion (tested against both).
    """

    def __init__(self, model: Any, architecture: str, specs: list[HookSpec]) -> None:
        self.model = model
        self.specs = specs
        self._captured: dict[str, torch.Tensor] = {}
        self._handles: list[Any] = []
        parts = _layout(model, architecture)
        for spec in specs:
            self._install(parts, spec)

    def _grab(self, name: str, value: torch.Tensor) -> None:
        self._captured[name] = value
        if len(self._captured) == len(self.specs):
            raise _Done

    def _install(self, parts: dict[str, Any], spec: HookSpec) -> None:
        name = spec.name

        def post(module: Any, args: Any, output: Any) -> None:
            self._grab(name, _first(output))

        def pre(module: Any, args: Any, kwargs: Any) -> None:
            self._grab(name, args[0] if args else kwargs["hidden_states"])

        if spec.kind == "embed":
            self._handles.append(parts["embed"].register_forward_hook(post))
            return
        if spec.kind == "pos_embed":
            self._handles.append(parts["pos"].register_forward_hook(post))
            return
        block = parts["layers"][spec.layer]
        if spec.kind == "resid_pre":
            handle = block.register_forward_pre_hook(pre, with_kwargs=True)
        elif spec.kind == "resid_mid":
            ln2 = getattr(block, parts["ln2"])
            handle = ln2.register_forward_pre_hook(pre, with_kwargs=True)
        elif spec.kind == "resid_post":
            handle = block.register_forward_hook(post)
        elif spec.kind == "attn_out":
            handle = getattr(block, parts["attn"]).register_forward_hook(post)
        else:
            handle = getattr(block, parts["mlp"]).register_forward_hook(post)
        self._handles.append(handle)

    def run(self, input_ids: torch.Tensor) -> dict[str, torch.Tensor]:
        """One forward pass over right-padded ``input_ids`` (no mask needed: attention is causal
        and positions start at 0, so pads after a sequence never reach its rows)."""
        self._captured = {}
        try:
            with torch.inference_mode():
                self.model(input_ids=input_ids, use_cache=False)
        except _Done:
            pass
        captured, self._captured = self._captured, {}
        for spec in self.specs:  # HF's position embeddings are [1, pos, d_model]: broadcast them
            if spec.kind == "pos_embed":
                t = captured[spec.name]
                captured[spec.name] = t.expand(input_ids.shape[0], *t.shape[1:])
        missing = [s.name for s in self.specs if s.name not in captured]
        if missing:
            raise RuntimeError(f"hooks {missing} did not fire in the forward pass")
        return captured

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def __enter__(self) -> HookCapture:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def rows_for_store(
    acts: dict[str, torch.Tensor], lengths: list[int], store_dtype: str
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Pads dropped and converted to the store dtype on the activations' device, with checks.

    Returns ``(rows, stats)``: ``rows[hook]`` is ``[sum(lengths), d_model]`` in the store dtype;
    ``stats[hook]`` is a float32 ``[3]`` tensor on the same device: (any non-finite, -1, largest
    magnitude), from one min/max pass before the conversion (NaN propagates through both; no
    device sync here). The writer finds the first bad row only when there is one.
    """
    first = next(iter(acts.values()))
    width = first.shape[1]
    mask = (
        torch.arange(width, device=first.device)[None, :]
        < torch.tensor(lengths, device=first.device)[:, None]
    )
    target = STORE_TORCH_DTYPES[store_dtype]
    rows: dict[str, torch.Tensor] = {}
    stats: dict[str, torch.Tensor] = {}
    for name, act in acts.items():
        x = act[mask]
        lo, hi = torch.aminmax(x)
        lo, hi = lo.float(), hi.float()
        bad = ~(torch.isfinite(lo) & torch.isfinite(hi))
        stats[name] = torch.stack([bad.float(), torch.full_like(lo, -1.0), torch.maximum(-lo, hi)])
        rows[name] = x.to(target)
    return rows, stats


ReleaseFn = Callable[[], None]
