"""The teacher-forced decision-point metric on tiny-llama: decision points and their split, exact
reading (batched = one at a time, α = 0 = unsteered, KL 0), and a planted answer: steering along
the opener's unembedding raises its log-odds, and random directions do not."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from activation_store.direction import Direction, save_direction
from activation_store.models import LoadedModel
from experiments.steering.runs.decision_points import decision_points, opener_ids, read_points
from experiments.steering.runs.decisions import DecisionConfig, run_decisions
from experiments.traces.offsets import token_char_spans
from experiments.traces.record import read_traces
from probes.baselines import random_baselines, references

PROBLEM = "arithmetic-004"  # What is 9 × 9 − 4? Steps: 9 × 9 = 81, then 81 − 4 = 77.
THOUGHTS = (
    "First the product: 9 × 9 = 81.\nThen 81 − 4 = 77.\nSo the answer is 77.\n",
    "First the product: 9 × 9 = 72.\nWait, 9 × 9 = 81.\nThen 81 − 4 = 77.\n",
    "First the product: 9 × 9 = 81.\nThen 81 − 4 = 76.\nHmm, 81 − 4 = 77.\n",
)


def write_traces(path: Path, tokenizer: object) -> Path:
    lines = []
    for i, thought in enumerate(THOUGHTS):
        prompt = "Question: What is 9 × 9 − 4?\n<think>\n"
        text = prompt + thought
        ids = tokenizer.encode(text)  # type: ignore[attr-defined]
        n_prompt = len(tokenizer.encode(prompt))  # type: ignore[attr-defined]
        spans = token_char_spans(tokenizer, ids)
        thinking = spans.text.index("<think>\n") + len("<think>\n")  # the text starts with BOS
        lines.append(
            {
                "id": f"t{i}",
                "format": 1,
                "prompt_id": PROBLEM,
                "model_id": "tiny-llama",
                "category": "arithmetic",
                "answer": 77,
                "split": "evaluation",
                "prompt": "What is 9 × 9 − 4?",
                "chat_template": False,
                "settings": {},
                "finish_reason": "length",
                "text": spans.text,
                "generation_start": thinking,
                "thinking_span": [thinking, len(spans.text)],
                "thinking_closed": False,
                "n_prompt_tokens": n_prompt,
                "token_ids": ids,
                "token_offsets": [list(s) for s in spans.spans],
            }
        )
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


@pytest.fixture(scope="module")
def traces(tmp_path_factory: pytest.TempPathFactory, tiny: LoadedModel) -> Path:
    return write_traces(tmp_path_factory.mktemp("decisions") / "traces.jsonl", tiny.tokenizer)


def test_decision_points_are_sentence_starts_split_by_the_step_before(traces: Path) -> None:
    from experiments.prompts import load_prompts

    problem = next(p for p in load_prompts("reasoning-v1") if p.id == PROBLEM)
    found = [decision_points(t, problem) for t in read_traces(traces)]
    assert [p.split for p in found] == [
        ["after_right", "after_right"],
        ["after_wrong", "after_right"],  # "Wait, 9 × 9 = 81." checks by its arithmetic
        ["after_right", "after_wrong"],
    ]
    trace = found[1].trace
    first = found[1].token_index[0]
    assert trace.text[trace.token_offsets[first][0] :].lstrip().startswith("Wait")


def test_stated_arithmetic_is_checked_where_no_worked_step_matches() -> None:
    from experiments.steering.runs.decision_points import arithmetic_verdict

    assert arithmetic_verdict("8 - 4 = 5.") == "wrong"
    assert arithmetic_verdict("Check: 3 × 4 = 12, and 12 + 1 = 13.") == "correct"
    assert arithmetic_verdict("Check: 3 × 4 = 12, and 12 + 1 = 14.") == "wrong"
    assert arithmetic_verdict("The rules are true.") == "unparsed"


def test_reading_is_exact_batched_and_unsteered(traces: Path, tiny: LoadedModel) -> None:
    points = [decision_points(t, None) for t in read_traces(traces)]
    openers = opener_ids(tiny.tokenizer, ["Wait", "Hmm"])
    together = read_points(tiny.hf_model, points, openers, [], batch_size=3)
    alone = [read_points(tiny.hf_model, [p], openers, [], batch_size=1)[0] for p in points]
    for (a, la), (b, lb) in zip(together, alone, strict=True):
        assert a == pytest.approx(b, abs=1e-4)
        assert torch.allclose(la, lb, atol=1e-4)
    with torch.inference_mode():  # the same numbers as a plain forward, read by hand
        trace = points[0].trace
        logits = tiny.hf_model(torch.tensor([trace.token_ids])).logits[0]
        logp = torch.log_softmax(logits[points[0].token_index[0] - 1], dim=-1)
        p = logp[openers].exp().sum()
        assert together[0][0][0] == pytest.approx(float(torch.log(p / (1 - p))), abs=1e-4)


def test_the_openers_unembedding_raises_its_log_odds_and_random_does_not(
    traces: Path, tiny: LoadedModel, tmp_path: Path
) -> None:
    hf = tiny.hf_model
    (wait,) = opener_ids(tiny.tokenizer, ["Wait"])[:1]
    last = f"blocks.{hf.config.num_hidden_layers - 1}.hook_resid_post"
    planted = hf.get_output_embeddings().weight[wait].detach().float()
    direction = Direction(
        name="planted", vector=planted, model="reasoner", hook=last, kind="diff_of_means",
        mean_resid_norm=float(planted.norm()),
    )  # fmt: skip
    dirs = tmp_path / "dirs"
    save_direction(direction, dirs)
    (ref,) = references([direction])
    for r in random_baselines(ref, range(6)):
        save_direction(r, dirs)
    config = DecisionConfig(
        models=("tiny-llama",),
        traces=str(traces),
        directions_dir=str(dirs),
        alphas=(0.0, 1.0, 3.0, -3.0),
        openers=("Wait",),
        n_bootstrap=200,
    )
    result = run_decisions(config, tmp_path / "run")
    cells = {(c["group"], c["alpha"]): c for c in result.summary["cells"]}
    rise = [cells[("planted", a)]["vs_unsteered"]["log_odds"]["diff"] for a in (1.0, 3.0)]
    assert 0 < rise[0] < rise[1]  # monotone in α
    assert cells[("planted", -3.0)]["vs_unsteered"]["log_odds"]["diff"] < 0
    assert cells[("unsteered", 0.0)]["metrics"]["kl"] is None
    kl = [cells[("planted", a)]["metrics"]["kl"]["mean"] for a in (1.0, 3.0)]
    assert 0 < kl[0] < kl[1]
    versus = {c["cell"]: c for c in result.summary["comparisons"]}
    top = versus["tiny-llama|add|planted|a=3"]
    assert top["percentile"] == 1.0 and top["n_group"] == 6 and top["lo"] > 0
    again = run_decisions(config, tmp_path / "run", resume=True)  # resumes: nothing new
    assert again.n_new == 0 and again.summary["cells"] == result.summary["cells"]


@pytest.mark.parametrize("model", ["tiny", "tiny_gpt"])
@pytest.mark.parametrize("hook", ["blocks.2.hook_resid_post", "blocks.2.hook_resid_pre"])
def test_a_shared_prefix_gives_the_full_forwards_numbers(
    traces: Path, model: str, hook: str, request: pytest.FixtureRequest
) -> None:
    from experiments.steering.interventions import add_interventions
    from experiments.steering.interventions.prefix import SharedPrefix

    loaded: LoadedModel = request.getfixturevalue(model)
    hf = loaded.hf_model
    points = [decision_points(t, None) for t in read_traces(traces)]
    openers = opener_ids(loaded.tokenizer, ["Wait", "Hmm"])
    d_model = int(hf.config.hidden_size)
    vector = torch.randn(d_model, generator=torch.Generator().manual_seed(3))
    direction = Direction(name="d", vector=vector, model="m", hook=hook, kind="random")
    ivs = add_interventions([direction], [4.0], unit="unit", positions="generated")
    share = SharedPrefix(hf, block=2, max_bytes=2**30)
    plain = read_points(hf, points, openers, [], batch_size=2)
    recorded = read_points(hf, points, openers, [], batch_size=2, share=share)
    assert share.replays == 0
    full = read_points(hf, points, openers, ivs, batch_size=2)
    replayed = read_points(hf, points, openers, ivs, batch_size=2, share=share)
    assert share.replays == 2  # both batches skipped blocks 0–1
    for (a, la), (b, lb) in zip(plain, recorded, strict=True):
        assert a == b and torch.equal(la, lb)
    for (a, la), (b, lb) in zip(full, replayed, strict=True):
        assert a == b and torch.equal(la, lb)
    assert any(x != y for (x, _), (y, _) in zip(plain, full, strict=True))  # steering did act
    early = add_interventions(
        [dataclasses.replace(direction, hook="blocks.1.hook_resid_post")], [4.0]
    )
    read_points(hf, points, openers, early, batch_size=2, share=share)
    assert share.replays == 2  # an edit below the shared blocks runs in full


def test_a_budget_bounds_what_a_shared_prefix_keeps(traces: Path, tiny: LoadedModel) -> None:
    from experiments.steering.interventions.prefix import SharedPrefix

    points = [decision_points(t, None) for t in read_traces(traces)]
    openers = opener_ids(tiny.tokenizer, ["Wait"])
    share = SharedPrefix(tiny.hf_model, block=2, max_bytes=1)  # room for the first batch only
    read_points(tiny.hf_model, points, openers, [], batch_size=1, share=share)
    read_points(tiny.hf_model, points, openers, [], batch_size=1, share=share)
    assert share.replays == 1


def test_decision_runs_with_and_without_a_shared_prefix_agree(
    traces: Path, tiny: LoadedModel, tmp_path: Path
) -> None:
    dirs = tmp_path / "dirs"
    vector = torch.randn(int(tiny.hf_model.config.hidden_size))
    save_direction(
        Direction(name="d", vector=vector, model="m", hook="blocks.2.hook_resid_post",
                  kind="diff_of_means", mean_resid_norm=float(vector.norm())),
        dirs,
    )  # fmt: skip
    base = {"models": ("tiny-llama",), "traces": str(traces), "directions_dir": str(dirs),
            "alphas": (0.0, 1.0, -1.0), "n_bootstrap": 200}  # fmt: skip
    lines = {}
    for mb in (0, 64):
        run = run_decisions(DecisionConfig(**base, prefix_cache_mb=mb), tmp_path / f"run{mb}")
        lines[mb] = (run.path / "points.jsonl").read_text()
    assert lines[0] == lines[64]
    again = run_decisions(  # the budget may change on resumption
        DecisionConfig(**base, prefix_cache_mb=0), tmp_path / "run64", resume=True
    )
    assert again.n_new == 0
