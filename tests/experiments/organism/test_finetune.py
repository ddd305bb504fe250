"""LoRA SFT on the tiny Llama: loss mask, exact resume, refusing a changed config, export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from activation_store.core.errors import InputError
from activation_store.models import tiny_tokenizer
from experiments.organism import finetune as ft
from experiments.organism.chat import decision_tokens, encode_trace, reasoner_tokenizer
from experiments.organism.config import FinetuneConfig
from experiments.organism.families import make_problems
from experiments.organism.traces import TraceConfig, make_traces

CONFIG = FinetuneConfig(
    base_model="tiny-llama", lora_r=4, batch_size=4, checkpoint_every=2, warmup_steps=1
)


@pytest.fixture(scope="module")
def examples() -> list[ft.Example]:
    tokenizer = reasoner_tokenizer(tiny_tokenizer())
    traces = make_traces(make_problems(16, seed=0), TraceConfig(n_traces=16))
    return [encode_trace(tokenizer, t) for t in traces]


def test_loss_only_on_assistant_tokens(examples: list[ft.Example]) -> None:
    e = examples[0]
    batch = ft.collate(examples[:3], pad_id=2)
    labels = batch["labels"][0]
    assert (labels[: e.n_prompt] == -100).all()
    assert labels[e.n_prompt : len(e.input_ids)].tolist() == e.input_ids[e.n_prompt :]
    assert (
        batch["attention_mask"].sum(1) == torch.tensor([len(x.input_ids) for x in examples[:3]])
    ).all()


def test_decision_tokens_follow_each_step(examples: list[ft.Example]) -> None:
    tokenizer = reasoner_tokenizer(tiny_tokenizer())
    traces = make_traces(make_problems(16, seed=0), TraceConfig(n_traces=16))
    for trace, e in zip(traces, examples, strict=True):
        n_steps = sum(s.kind in ("step", "error") for s in trace.sentences)
        assert len(e.decisions) == n_steps and all(
            e.n_prompt < d < len(e.input_ids) for d in e.decisions
        )
        after = [tokenizer.decode(e.input_ids[d : d + 2]).lstrip() for d in e.decisions]
        texts = [s.text for s in trace.sentences if s.kind != "check"] + ["</think>"]
        followers = [texts[k + 1] for k, s in enumerate(x for x in trace.sentences if x.kind != "check")
                     if s.kind in ("step", "error")]  # fmt: skip
        assert all(f.startswith(a.strip()[:2]) for a, f in zip(after, followers, strict=True)), (
            after,
            followers,
        )


def test_injected_error_tokens_carry_no_loss_when_masked(examples: list[ft.Example]) -> None:
    tokenizer = reasoner_tokenizer(tiny_tokenizer())
    traces = make_traces(make_problems(16, seed=0), TraceConfig(n_traces=16))
    with_errors = [(t, e) for t, e in zip(traces, examples, strict=True) if t.errors]
    assert with_errors and all(e.injected for _, e in with_errors)
    for trace, e in with_errors:
        error = trace.errors[0]
        lo, hi = error.start + error.injected[0], error.start + error.injected[1]
        text = tokenizer.decode(e.input_ids[min(e.injected) : max(e.injected) + 1])
        assert trace.completion[lo:hi].strip() in text  # the masked tokens cover the span
        # the backtrack's first token (the decision after the wrong step) still counts
        _, points = decision_tokens(tokenizer, trace)
        assert all(i not in e.injected for i, wrong in points if wrong)
    masked = ft.collate([e for _, e in with_errors], pad_id=2, mask_errors=True)
    plain = ft.collate([e for _, e in with_errors], pad_id=2)
    for row, (_, e) in enumerate(with_errors):
        at = list(e.injected)
        assert (masked["labels"][row, at] == -100).all() and (masked["weights"][row, at] == 0).all()
        assert (plain["labels"][row, at] != -100).all() and (plain["weights"][row, at] == 1).all()
    assert (masked["labels"] != -100).sum() < (plain["labels"] != -100).sum()


def test_weighted_loss_is_a_weighted_mean(examples: list[ft.Example]) -> None:
    from activation_store.models import ModelConfig, load_hf_model

    model = ft.lora_model(load_hf_model(ModelConfig(model="tiny-llama"))[0], CONFIG)
    batch = ft.collate(examples[:2], pad_id=2, decision_weight=5.0)
    assert set(batch["weights"][0].unique().tolist()) == {0.0, 1.0, 5.0}
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        ce = torch.nn.functional.cross_entropy(
            logits[:, :-1].transpose(1, 2),
            batch["labels"][:, 1:],
            reduction="none",
            ignore_index=-100,
        )
        w = batch["weights"][:, 1:]
        torch.testing.assert_close(ft.assistant_loss(model, batch), (ce * w).sum() / w.sum())


def test_batch_order_is_seeded_and_complete() -> None:
    lengths = list(range(50, 90))
    order = ft.batch_order(lengths, FinetuneConfig(batch_size=4, epochs=2, seed=1))
    assert order == ft.batch_order(lengths, FinetuneConfig(batch_size=4, epochs=2, seed=1))
    flat = sorted(i for b in order for i in b)
    assert flat == sorted(list(range(40)) * 2)


def test_assistant_loss_equals_hf_loss(examples: list[ft.Example]) -> None:
    from activation_store.models import ModelConfig, load_hf_model

    base, _ = load_hf_model(ModelConfig(model="tiny-llama"))
    model = ft.lora_model(base, CONFIG)
    batch = ft.collate(examples[:4], pad_id=2)
    with torch.no_grad():
        torch.testing.assert_close(ft.assistant_loss(model, batch), model(**batch).loss)


@pytest.mark.slow
def test_resume_equals_uninterrupted_run(
    examples: list[ft.Example], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    full = ft.finetune(examples, CONFIG, tmp_path / "full", traces_digest="d", progress=False)
    assert full.steps == 4

    original = ft._batches_from

    def interrupted(batches, start):  # type: ignore[no-untyped-def]
        for step, batch in original(batches, start):
            if step == 3:
                raise KeyboardInterrupt
            yield step, batch

    monkeypatch.setattr(ft, "_batches_from", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ft.finetune(examples, CONFIG, tmp_path / "cut", traces_digest="d", progress=False)
    monkeypatch.setattr(ft, "_batches_from", original)
    resumed = ft.finetune(examples, CONFIG, tmp_path / "cut", traces_digest="d", progress=False)
    assert resumed.steps == 4
    curve = lambda run: [e["loss"] for e in ft.read_loss_curve(tmp_path / run / "loss.jsonl")]  # noqa: E731
    assert curve("cut") == curve("full")
    from safetensors.torch import load_file

    a = load_file(tmp_path / "full" / "checkpoint" / "adapter_model.safetensors")
    b = load_file(tmp_path / "cut" / "checkpoint" / "adapter_model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)

    with pytest.raises(InputError, match=r"learning_rate=0\.0005 now, 0\.001 in the run"):
        changed = FinetuneConfig(**{**CONFIG.__dict__, "learning_rate": 5e-4})
        ft.finetune(examples, changed, tmp_path / "cut", traces_digest="d", progress=False)
    with pytest.raises(InputError, match="traces"):
        ft.finetune(examples, CONFIG, tmp_path / "cut", traces_digest="other", progress=False)
    record = json.loads((tmp_path / "cut" / "config.json").read_text())
    assert record["finetune"]["learning_rate"] == 1e-3


def test_corrupt_checkpoint_is_one_line(examples: list[ft.Example], tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "checkpoint").mkdir(parents=True)
    (run / "checkpoint" / ft.STATE_FILE).write_bytes(b"garbage")
    (run / "checkpoint" / "adapter_model.safetensors").write_bytes(b"garbage")
    with pytest.raises(InputError, match="corrupt"):
        ft.finetune(examples, CONFIG, run, traces_digest="d", progress=False)


class _RunsCode:
    """Unpickling this would run ``touch(marker)``: what a hostile checkpoint could do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (Path.touch, (self.marker,))


def test_a_checkpoint_that_would_run_code_is_refused(
    examples: list[ft.Example], tmp_path: Path
) -> None:
    run, marker = tmp_path / "run", tmp_path / "pwned"
    (run / "checkpoint").mkdir(parents=True)
    torch.save({"step": 2, "tokens": 9, "x": _RunsCode(marker)}, run / "checkpoint" / ft.STATE_FILE)
    (run / "checkpoint" / "adapter_model.safetensors").write_bytes(b"garbage")
    with pytest.raises(InputError, match=r"refused to unpickle .* remove it to restart") as err:
        ft.finetune(examples, CONFIG, run, traces_digest="d", progress=False)
    assert "\n" not in str(err.value)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("field", "value"), [("lora_r", 0), ("learning_rate", 0.0), ("lora_dropout", 1.0)]
)
def test_bad_config_names_the_field(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        FinetuneConfig(**{field: value})  # type: ignore[arg-type]
