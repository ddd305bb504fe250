"""Per-generation metrics against hand-counted examples."""

from __future__ import annotations

import math

import pytest
import torch

from activation_store.models import LoadedModel
from experiments.steering.runs.metrics import (
    answer_correct,
    count_backtracking_sentences,
    extract_answer,
    measure,
    repetition_rate,
    word_counts,
)
from experiments.steering.runs.metrics.backtracking import backtracking_sentences
from experiments.steering.runs.metrics.perplexity import generation_perplexities

TEXT = (
    "So 7 × 8 = 54. Wait, 7 × 8 is 56, not 54. Hmm, let me re-check the sum.\n"
    "But wait, the question asks for the product. Actually that is right. Waiting is fine. "
    "No, the answer is 56."
)


def test_backtracking_sentences_by_the_keyword_labeller() -> None:
    # Wait, / Hmm, / But wait, / Actually / No, — not "Waiting" (a different word).
    found = backtracking_sentences(TEXT)
    assert [s.text.split()[0] for s in found] == ["Wait,", "Hmm,", "But", "Actually", "No,"]
    assert all(TEXT[s.start : s.end] == s.text for s in found)
    assert count_backtracking_sentences(TEXT) == 5
    assert count_backtracking_sentences("") == 0
    assert count_backtracking_sentences("Wait. Wait. Wait.") == 3


def test_word_counts() -> None:
    counts = word_counts("Wait, but wait — hmm. BUT it's fine")
    assert counts.n_words == 7
    assert counts.wait == 2 and counts.but == 2
    assert counts.wait_hmm_fraction == pytest.approx(3 / 7)
    assert word_counts("").wait_hmm_fraction == 0.0


def test_repetition_rate() -> None:
    assert repetition_rate([1, 2, 3, 4, 5, 6]) == 0.0
    assert repetition_rate([7] * 10) == pytest.approx(1 - 1 / 7)
    assert repetition_rate([1, 2]) == 0.0


@pytest.mark.parametrize(
    ("text", "answer", "expected"),
    [
        ("<think>so 56</think> The answer is 56.", 56, True),
        ("<think>hmm 54</think> \\boxed{54}", 56, False),
        ("First 3, then 12", 12, True),
        ("The answer: Yes.", "yes", True),
        ("no number here", 3, False),
        ("anything", None, None),
    ],
)
def test_answer_correct(text: str, answer: int | str | None, expected: bool | None) -> None:
    assert answer_correct(text, answer) is expected


def test_extract_answer_prefers_text_after_think() -> None:
    assert extract_answer("<think>maybe 3, maybe 4</think>so 7") == "7"


def test_measure_flags_degenerate_spam() -> None:
    spam = measure("Wait. " * 20, [5, 6] * 20, answer=None, perplexity=None, max_repetition=0.5)
    assert spam.degenerate and spam.backtracking_sentences == 20
    assert spam.coherent_backtracking_sentences == 0
    fine = measure(TEXT, list(range(40)), answer=56, perplexity=3.0, max_repetition=0.5)
    assert not fine.degenerate and fine.coherent_backtracking_sentences == 5 and fine.correct


def test_perplexity_matches_a_full_forward(tiny: LoadedModel) -> None:
    tok, hf = tiny.tokenizer, tiny.hf_model
    prompts = [tok("Wait, let me")["input_ids"], tok("Hmm")["input_ids"]]
    conts = [tok(" check it", add_special_tokens=False)["input_ids"], [5, 9, 11, 3]]
    got = generation_perplexities(hf, prompts, conts, pad_id=tok.pad_token_id, batch_size=2)
    for value, prompt, cont in zip(got, prompts, conts, strict=True):
        ids = torch.tensor([prompt + cont], device=tiny.device)
        with torch.no_grad():
            logp = torch.log_softmax(hf(ids).logits[0, :-1].float(), dim=-1)
        rows = torch.arange(len(prompt) - 1, len(prompt) + len(cont) - 1)
        nll = -logp[rows, torch.tensor(cont)].mean().item()
        assert value == pytest.approx(math.exp(nll), rel=1e-4)
    assert generation_perplexities(hf, prompts[:1], [[]], pad_id=0) == [None]


def test_a_sentence_the_prompt_left_open_is_not_the_generations_own() -> None:
    assert count_backtracking_sentences("Wait , the sum") == 1
    assert count_backtracking_sentences("Wait , the sum", context="So the total is") == 0
    assert count_backtracking_sentences("Wait, the sum is 5.", context="So it is 4.\n") == 1
    assert count_backtracking_sentences(" Wait, no.", context="So it is 4.") == 1


def test_ungrounded_and_repeated_backtracks_are_not_coherent() -> None:
    from experiments.steering.runs.metrics.backtracking import backtracking_counts, is_ungrounded

    text = "Wait, 7 × 8 = 56, not 56. Wait, check. Wait, check. Wait, 7 × 8 = 56, not 54."
    counts = backtracking_counts(text)
    assert (counts.total, counts.ungrounded, counts.repeated, counts.coherent) == (4, 1, 1, 2)
    assert is_ungrounded("Hmm, it is 12, not 12!") and not is_ungrounded("Wait, even, not odd.")
    m = measure(text, list(range(40)), answer=None, perplexity=None, max_repetition=0.5)
    assert m.backtracking_sentences == 4 and m.coherent_backtracking_sentences == 2
    assert m.ungrounded_backtracking_sentences == 1 and m.repeated_backtracking_sentences == 1


def test_backtracks_after_a_correct_step_are_counted_apart() -> None:
    """P(backtrack | no error): a backtrack after a step whose arithmetic holds has nothing to catch;
    one after a wrong step has; sentences without arithmetic are neither."""
    from experiments.steering.runs.metrics.backtracking import backtracking_counts
    from experiments.steering.runs.metrics.record import completed

    text = (
        "So 3 + 4 = 7. Wait, 3 + 4 = 8. Then 6 × 7 = 41. Wait, 6 × 7 = 42, not 41. "
        "The rule holds. Hmm, maybe not. Next 2 + 2 = 4. So the answer is 4."
    )
    counts = backtracking_counts(text)
    # right steps followed by a sentence: "3 + 4 = 7", "6 × 7 = 42, not 41" (its correction
    # states true arithmetic), "2 + 2 = 4"; a backtrack follows the first only
    assert (counts.right_steps, counts.after_right) == (3, 1)
    assert counts.total == 3
    m = measure(text, list(range(40)), answer=None, perplexity=None, max_repetition=0.5)
    assert (m.right_steps, m.backtracking_after_right_step) == (3, 1)
    old = {k: v for k, v in m.to_json().items() if k not in ("right_steps",
                                                             "backtracking_after_right_step")}  # fmt: skip
    assert completed(old, text) == m.to_json()
    assert completed(m.to_json(), "no arithmetic here") == m.to_json()


def test_the_degenerate_filter_is_calibrated_on_the_unsteered_run() -> None:
    from experiments.steering.runs.config import SweepConfig
    from experiments.steering.runs.metrics.record import recalibrated
    from experiments.steering.runs.summary import degenerate_thresholds

    def gen(condition: str, model: str, rate: float) -> dict[str, object]:
        metrics = {"repetition_rate": rate, "backtracking_sentences": 2}
        return {"condition": condition, "model": model, "metrics": metrics}

    unsteered = [gen("m|none|unsteered|a=0|seed=0", "m", r / 100) for r in range(20, 40)]
    steered = [gen("m|add|d|a=1|seed=0", "m", 0.45)]
    config = SweepConfig(models=("m",), directions_dir="d", degenerate_quantile=0.95)
    (threshold,) = degenerate_thresholds(
        unsteered + steered, {"m|none|unsteered|a=0|seed=0"}, config
    ).values()
    assert threshold == pytest.approx(0.3805)  # the 95th percentile of 0.20 … 0.39
    flagged = [recalibrated(g["metrics"], threshold)["degenerate"] for g in unsteered]  # type: ignore[arg-type]
    assert sum(flagged) == 1  # 5 % of the unsteered run
    assert recalibrated(steered[0]["metrics"], threshold)["coherent_backtracking_sentences"] == 0  # type: ignore[arg-type]
    fixed = SweepConfig(models=("m",), directions_dir="d", degenerate_quantile=None)
    assert degenerate_thresholds(unsteered, set(), fixed) == {"m": 0.5}


def test_answered_is_read_after_the_thinking_closes() -> None:
    thinking_prompt = "<|im_start|>assistant\n<think>\n"
    cut = measure("3 + 4 = 7. So the answer is 7", [1] * 12, answer=7, perplexity=None,
                  max_repetition=0.5, context=thinking_prompt)  # fmt: skip
    assert cut.correct is True  # the last-number guess
    assert (cut.answered, cut.answered_correctly) == (False, False)  # but it never answered
    done = measure("3 + 4 = 7.\n</think>\nThe answer is 7.", [1] * 12, answer=7,
                   perplexity=None, max_repetition=0.5, context=thinking_prompt)  # fmt: skip
    assert (done.answered, done.answered_correctly) == (True, True)
    wrong = measure("x\n</think>\nThe answer is 8.", [1] * 8, answer=7, perplexity=None,
                    max_repetition=0.5, context=thinking_prompt)  # fmt: skip
    assert (wrong.answered, wrong.answered_correctly) == (True, False)
    base = measure("The answer is 7.", [1] * 5, answer=7, perplexity=None, max_repetition=0.5)
    assert (base.answered, base.answered_correctly) == (True, True)  # no thinking opened


def test_backtracking_is_counted_on_the_thinking_text_only() -> None:
    text = "Let me see.\n</think>\nWait, the answer is 7."
    m = measure(text, [1] * 12, answer=7, perplexity=None, max_repetition=0.5)
    assert m.backtracking_sentences == 0 and m.wait_count == 0
