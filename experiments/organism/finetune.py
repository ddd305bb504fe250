"""LoRA supervised finetuning of SmolLM2-135M on synthetic reasoning traces: seeded, resumable.

Why LoRA rather than full finetuning: the organism ships in the repository (≤ 20 MB), and a full
135M-parameter delta is ~270 MB in fp16; a rank-16 adapter on every linear layer of every block
(4.9 M parameters, ~10 MB in fp16) moved a feasibility probe from 0 % to ~30 % backtracking in
20 CPU minutes. Merged with ``merge_and_unload`` it gives one ordinary model for analysis.

The run directory holds ``config.json`` (this config and the trace file's digest), ``loss.jsonl``
(one line per optimizer step) and ``checkpoint/`` (adapter, optimizer, scheduler and RNG state,
replaced atomically every ``checkpoint_every`` steps). Rerunning with the same directory resumes
from the checkpoint — batch order is a pure function of the seed, so a resumed run takes the same
steps as an uninterrupted one — and refuses a different config, naming the field.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import random
import re
import shutil
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from activation_store.core.errors import InputError
from experiments.organism.chat import Example
from experiments.organism.config import FinetuneConfig

if TYPE_CHECKING:
    from peft import PeftModel

logger = logging.getLogger(__name__)

CHECKPOINT = "checkpoint"
STATE_FILE = "trainer_state.pt"


@dataclass(frozen=True, kw_only=True)
class FinetuneResult:
    """What a finished (or resumed-and-finished) run produced."""

    run_dir: Path
    steps: int
    """Optimizer steps taken in total."""
    final_loss: float
    """Mean loss over the last 10 % of steps."""
    trained_tokens: int
    """Assistant tokens that carried the loss, over the whole run."""
    seconds: float
    """Wall time of this invocation (a resumed run counts only its own part)."""


def batch_order(lengths: Sequence[int], config: FinetuneConfig) -> list[list[int]]:
    """Batches of example indices for all epochs: shuffled, length-grouped to cut padding.

    Each epoch shuffles, sorts windows of 16 batches by length, cuts them into batches and
    shuffles the batches; a pure function of ``lengths`` and the config (for exact resumes).
    """
    rng = random.Random(config.seed)
    window = config.batch_size * 16
    batches: list[list[int]] = []
    for _ in range(config.epochs):
        order = list(range(len(lengths)))
        rng.shuffle(order)
        epoch: list[list[int]] = []
        for start in range(0, len(order), window):
            chunk = sorted(order[start : start + window], key=lambda i: lengths[i])
            epoch += [
                chunk[j : j + config.batch_size] for j in range(0, len(chunk), config.batch_size)
            ]
        rng.shuffle(epoch)
        batches += epoch
    return batches


def collate(
    examples: Sequence[Example],
    pad_id: int,
    *,
    decision_weight: float = 1.0,
    mask_errors: bool = False,
) -> dict[str, torch.Tensor]:
    """Right-padded ``input_ids``, ``attention_mask``, ``labels`` (-100 off the assistant tokens,
    and on injected-error tokens with ``mask_errors``) and ``weights`` (1 per assistant token,
    ``decision_weight`` on decision tokens, 0 elsewhere)."""
    width = max(len(e.input_ids) for e in examples)
    ids_BS = torch.full((len(examples), width), pad_id, dtype=torch.long)
    mask_BS = torch.zeros((len(examples), width), dtype=torch.long)
    labels_BS = torch.full((len(examples), width), -100, dtype=torch.long)
    weights_BS = torch.zeros((len(examples), width), dtype=torch.float32)
    for row, e in enumerate(examples):
        n = len(e.input_ids)
        ids_BS[row, :n] = torch.tensor(e.input_ids)
        mask_BS[row, :n] = 1
        labels_BS[row, e.n_prompt : n] = ids_BS[row, e.n_prompt : n]
        weights_BS[row, e.n_prompt : n] = 1.0
        weights_BS[row, list(e.decisions)] = decision_weight
        if mask_errors and e.injected:
            labels_BS[row, list(e.injected)] = -100
            weights_BS[row, list(e.injected)] = 0.0
    return {
        "input_ids": ids_BS,
        "attention_mask": mask_BS,
        "labels": labels_BS,
        "weights": weights_BS,
    }


def assistant_loss(model: PeftModel, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Weighted mean next-token cross-entropy on the assistant tokens (``batch["weights"]``).

    With all weights 1 this is the usual SFT loss. The unembedding (49,152 × 576, the largest
    matmul of SmolLM2-135M) is applied only at positions that predict an assistant token.
    """
    causal_lm: Any = model.get_base_model()
    hidden_BSD = causal_lm.model(
        input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
    ).last_hidden_state
    targets_BS = batch["labels"][:, 1:]
    keep_BS = targets_BS != -100
    logits_ND = causal_lm.lm_head(hidden_BSD[:, :-1][keep_BS])
    weights_N = batch["weights"][:, 1:][keep_BS]
    losses_N = torch.nn.functional.cross_entropy(
        logits_ND.float(), targets_BS[keep_BS], reduction="none"
    )
    return (losses_N * weights_N).sum() / weights_N.sum()


def learning_rate_at(step: int, total: int, config: FinetuneConfig) -> float:
    """Linear warm-up to ``learning_rate``, then cosine decay to 10 % of it at ``total``."""
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, total - config.warmup_steps)
    return config.learning_rate * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def check_same_config(run_dir: Path, record: dict[str, Any]) -> None:
    """Refuse to resume ``run_dir`` under a different config, naming the first differing field."""
    path = run_dir / "config.json"
    if not path.is_file():
        return
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise InputError(f"{str(path)!r} is corrupt ({err}); remove the run directory") from err
    for key in sorted(set(saved) | set(record)):
        if key == "finetune" and isinstance(saved.get(key), dict):
            for field in sorted(set(saved[key]) | set(record[key])):
                if saved[key].get(field) != record[key].get(field):
                    raise InputError(
                        f"cannot resume {str(run_dir)!r} with a different config: {field}="
                        f"{record[key].get(field)!r} now, {saved[key].get(field)!r} in the run; "
                        "pass the same config or use a new output directory"
                    )
        elif saved.get(key) != record.get(key):
            raise InputError(
                f"cannot resume {str(run_dir)!r} with a different config: {key} differs from the "
                "run's (the traces or their config changed); use a new output directory"
            )


def config_record(config: FinetuneConfig, traces_digest: str) -> dict[str, Any]:
    """The JSON-able record of a run's inputs (compared on resume)."""
    return {"finetune": _jsonable(dataclasses.asdict(config)), "traces_sha256": traces_digest}


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value))


def lora_model(base: torch.nn.Module, config: FinetuneConfig) -> PeftModel:
    """Wrap ``base`` in a trainable LoRA adapter, initialised from ``config.seed``."""
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=list(config.target_modules),
        task_type="CAUSAL_LM",
    )
    with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")
        torch.manual_seed(config.seed)
        return get_peft_model(base, lora)


def _batches_from(batches: list[list[int]], start: int) -> Iterator[tuple[int, list[int]]]:
    for step in range(start, len(batches)):
        yield step, batches[step]


def save_checkpoint(run_dir: Path, model: PeftModel, state: dict[str, Any]) -> None:
    """Write adapter + trainer state to ``checkpoint.tmp`` then rename it over ``checkpoint``."""
    tmp = run_dir / f"{CHECKPOINT}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp))
    torch.save(state, tmp / STATE_FILE)
    final = run_dir / CHECKPOINT
    old = run_dir / f"{CHECKPOINT}.old"
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def load_checkpoint(run_dir: Path, model: PeftModel) -> dict[str, Any] | None:
    """Load the adapter weights into ``model``; return the trainer state (None if no checkpoint)."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    directory = run_dir / CHECKPOINT
    if not (directory / STATE_FILE).is_file() and (run_dir / f"{CHECKPOINT}.old").is_dir():
        directory = run_dir / f"{CHECKPOINT}.old"  # interrupted between the two renames
    if not (directory / STATE_FILE).is_file():
        return None
    state = _load_trainer_state(directory / STATE_FILE)
    try:
        weights = load_file(directory / "adapter_model.safetensors")
    except Exception as err:  # safetensors raises many types for a damaged file
        raise InputError(
            f"checkpoint in {str(directory)!r} is corrupt ({type(err).__name__}); remove it to "
            "restart the run"
        ) from err
    set_peft_model_state_dict(model, weights)
    return state


def _load_trainer_state(path: Path) -> dict[str, Any]:
    """The trainer state (step, tokens, the optimizer's tensors and plain values), unpickled with
    ``weights_only=True``: a file holding any other object is refused, never executed."""
    import pickle

    try:
        state = torch.load(path, weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as err:
        found = re.search(r"GLOBAL ([\w.]+)", str(err))
        detail = f" (e.g. {found.group(1)})" if found else ""
        raise InputError(
            f"refused to unpickle {str(path)!r}: it holds objects other than tensors and plain "
            f"values{detail}, and loading it could run code; remove it to restart the run"
        ) from err
    except Exception as err:  # torch.load raises many types for a damaged file
        raise InputError(
            f"checkpoint {str(path)!r} is corrupt ({type(err).__name__}); remove it to restart "
            "the run"
        ) from err
    if not isinstance(state, dict) or not {"step", "tokens"} <= state.keys():
        raise InputError(
            f"checkpoint {str(path)!r} is not a trainer state; remove it to restart the run"
        )
    return state


def finetune(
    examples: Sequence[Example],
    config: FinetuneConfig,
    run_dir: str | Path,
    *,
    traces_digest: str,
    progress: bool = True,
) -> FinetuneResult:
    """Train (or resume) a LoRA adapter on ``examples``; the adapter stays in ``run_dir``.

    ``traces_digest`` identifies the training data (e.g. the trace file's SHA-256); a resume with
    other data or another config is refused. Export with :func:`export_adapter`.
    """
    from activation_store.models import ModelConfig, load_hf_model

    run = Path(run_dir)
    record = config_record(config, traces_digest)
    check_same_config(run, record)
    run.mkdir(parents=True, exist_ok=True)
    (run / "config.json").write_text(json.dumps(record, indent=2))
    base, tokenizer = load_hf_model(ModelConfig(model=config.base_model))
    model = lora_model(base, config)
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad],
        lr=config.learning_rate,
        weight_decay=config.weight_decay,
    )
    batches = batch_order([len(e.input_ids) for e in examples], config)
    state = load_checkpoint(run, model) or {"step": 0, "tokens": 0}
    if "optimizer" in state:
        optimizer.load_state_dict(state["optimizer"])
        logger.info("resuming %s at step %d of %d", run, state["step"], len(batches))
    return _loop(model, optimizer, examples, batches, state, run, config, progress,
                 pad_id=int(tokenizer.pad_token_id))  # fmt: skip


def _loop(
    model: PeftModel, optimizer: torch.optim.Optimizer, examples: Sequence[Example],
    batches: list[list[int]], state: dict[str, Any], run: Path, config: FinetuneConfig,
    progress: bool, *, pad_id: int,
) -> FinetuneResult:  # fmt: skip
    from tqdm.auto import tqdm

    started, first, tokens = time.perf_counter(), int(state["step"]), int(state["tokens"])
    model.train()
    bar = tqdm(
        total=len(batches), initial=first, disable=not progress, desc="finetune", unit="step"
    )
    with (run / "loss.jsonl").open("a") as log:
        for step, batch_idx in _batches_from(batches, first):
            for group in optimizer.param_groups:
                group["lr"] = learning_rate_at(step, len(batches), config)
            batch = collate(
                [examples[i] for i in batch_idx], pad_id,
                decision_weight=config.decision_weight, mask_errors=config.mask_errors,
            )  # fmt: skip
            loss = assistant_loss(model, batch)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            n_tokens = int((batch["labels"][:, 1:] != -100).sum())
            tokens += n_tokens
            log.write(json.dumps({"step": step + 1, "loss": round(loss.item(), 5), "lr": group["lr"],
                                  "tokens": tokens, "elapsed_s": round(time.perf_counter() - started, 1)}) + "\n")  # fmt: skip
            log.flush()
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}")
            if (step + 1) % config.checkpoint_every == 0 or step + 1 == len(batches):
                state = {"step": step + 1, "tokens": tokens, "optimizer": optimizer.state_dict()}
                save_checkpoint(run, model, state)
    bar.close()
    model.eval()
    return FinetuneResult(
        run_dir=run, steps=len(batches), final_loss=final_loss(run / "loss.jsonl"),
        trained_tokens=tokens, seconds=time.perf_counter() - started,
    )  # fmt: skip


def read_loss_curve(path: Path) -> list[dict[str, float]]:
    """The ``loss.jsonl`` records, the last one per step (a resumed run may repeat steps)."""
    by_step: dict[int, dict[str, float]] = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            if line.strip():
                entry = json.loads(line)
                by_step[int(entry["step"])] = entry
    return [by_step[s] for s in sorted(by_step)]


def final_loss(path: Path) -> float:
    """Mean loss over the last 10 % of steps (at least one)."""
    curve = read_loss_curve(path)
    if not curve:
        return float("nan")
    tail = curve[-max(1, len(curve) // 10) :]
    return sum(e["loss"] for e in tail) / len(tail)
