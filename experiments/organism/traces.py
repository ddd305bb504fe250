"""Synthetic reasoning traces in the style of a thinking model, with ground-truth backtracking.

A trace is the assistant's completion for a :class:`~experiments.prompts.problem.Problem`: the
thinking text (one sentence per line: an optional opener, then the solution steps), ``</think>``,
and ``The answer is X.``. A controlled share of traces contains a plausible error in one step,
followed by a backtracking sentence that states both values ("Wait, 7 × 8 = 56, not 54."). A step
may end in a *lag* clause after its value ("7 × 8 = 54, so I note that down and go on."), so
that the backtrack comes 8–12 tokens after the wrong value, as in real reasoning traces. Each
trace records the character span of every sentence, which steps were wrong, which characters of
a wrong step are the injected error (to mask in the loss) and where each backtracking sentence
is: the ground truth for the labellers and for the organism's evaluation.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from experiments.organism.families import FAMILIES, final_answer
from experiments.prompts.problem import Problem
from experiments.prompts.steps import Step, Value, propagate_error, solve

SentenceKind = Literal["opener", "step", "error", "check", "backtrack"]
CHECK_PREFIX = "Check: "
THINK_END = "</think>"

OPENERS = (
    "Okay, let me work through this.",
    "Let me solve this step by step.",
    "Okay, so I need to figure this out.",
    "Let me think.",
)
PHRASINGS = (
    "Wait, {fix}, not {wrong}.",
    "Hmm, that's not right. {Fix}, not {wrong}.",
    "Actually, {fix}, not {wrong}.",
    "But wait, {fix}, not {wrong}.",
    "Wait, let me check that. {Fix}, not {wrong}.",
    "Hmm, that doesn't add up. {Fix}, not {wrong}.",
    "Oops, {fix}, not {wrong}.",
)
"""Backtracking templates: ``{fix}``/``{Fix}`` is the step restated with its correct value,
``{wrong}`` the value that was written, so every backtrack names both values."""
LAG_TAILS = (
    ", so I note that down and go on",
    ", and I will carry that forward",
    ", which I keep for the next part",
    ", so that is what I have so far",
    ", and that is the result of this step",
    ", so I write that down for now",
)
"""Clauses that end a step after its value (8–10 tokens with the period and line break): the lag
between a wrong value and the backtrack. The same clauses end right and wrong steps, so the
tokens right before a backtrack are no cue; only the value further back is."""
ERROR_KINDS = ("value", "copy")
DEFAULT_FAMILIES = ("carry_add", "word_problem", "sequence", "logic", "times_plus")
LOWERCASE_LEADS = ("Ones:", "Tens:", "Compare", "The", "Next:")
"""Leading words lower-cased when a step is restated inside a sentence ("Wait, compare …")."""


@dataclass(frozen=True, kw_only=True)
class TraceConfig:
    """How synthetic traces are drawn; saved beside every trace file and model built from it."""

    n_traces: int = 1600
    """Number of training traces (one per problem)."""
    trace_seed: int = 0
    """Seed of the problems, errors and phrasing."""
    families: tuple[str, ...] = DEFAULT_FAMILIES
    """Problem families (see ``experiments.organism.families.FAMILIES``), drawn in turn. The
    default leaves out count_odd and largest: SmolLM2-135M does not know the parity or the order
    of digits (teacher-forced value accuracy ≈ 0.5 there, ≥ 0.86 in the other families), so it
    could not notice errors in them."""
    error_rate: float = 0.7
    """Share of traces with an erroneous step (each followed by a backtracking sentence); the rest
    have no error at all, so that backtracking is not a certainty. (v5 used 1.0: its reasoner
    learned to make errors, and sampling at 0.7 made few of them with 0.5. With
    ``FinetuneConfig.mask_errors`` the reasoner is not trained to write the injected values.)"""
    max_errors: int = 1
    """At most this many erroneous steps in one trace (uniform in 1..max_errors)."""
    error_kinds: tuple[str, ...] = ERROR_KINDS
    """Kinds of error, drawn uniformly among those a step allows: ``value`` (the step's result
    is wrong: "7 × 8 = 54.") and ``copy`` (a number copied from the prompt or an earlier step
    changed, the arithmetic on it right: "16 - 9 = 7." after "9 + 6 = 15."); a step with no
    copied number gets a value error."""
    catch_rate: float = 1.0
    """Share of errors caught by a backtracking sentence; an uncaught error propagates to the
    later steps and the answer, as a solver that trusted it would."""
    check_rate: float = 0.0
    """Share of steps followed by a verification sentence that redoes the step from its sources
    ("Check: 7 × 8 = 56."). v5 used 1.0: a backtrack then followed a check that disagreed with
    the step, so the reasoner learned to compare two numbers on adjacent lines — a reflex of the
    template, not noticing an error from content (issue #15). 0 (v6): the reasoner must notice
    the error from what the base model knows. (Two earlier recipes without checks, without
    error masking or lag, backtracked after right and wrong steps alike: teacher-forced
    P(backtrack) ≈ 0.29 after a wrong step vs 0.17 after a right one.)"""
    lag_rate: float = 1.0
    """Share of steps (right or wrong) that end in one of ``lag_tails`` after their value."""
    lag_tails: tuple[str, ...] = LAG_TAILS
    """Lag clauses, each starting with ", " (inserted before the step's final period)."""
    opener_rate: float = 0.5
    """Share of traces that open with a sentence such as "Let me think."."""
    phrasings: tuple[str, ...] = PHRASINGS
    """Backtracking templates with ``{fix}`` or ``{Fix}`` and ``{wrong}``."""

    def __post_init__(self) -> None:
        for name in ("error_rate", "catch_rate", "opener_rate", "check_rate", "lag_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name}={value!r} must be between 0 and 1")
        if self.n_traces < 1:
            raise ValueError(f"n_traces={self.n_traces!r} must be at least 1")
        if self.max_errors < 1:
            raise ValueError(f"max_errors={self.max_errors!r} must be at least 1")
        if not self.error_kinds or any(k not in ERROR_KINDS for k in self.error_kinds):
            raise ValueError(
                f"error_kinds={self.error_kinds!r}: choose from {', '.join(ERROR_KINDS)}"
            )
        bad_tails = [t for t in self.lag_tails if not t.startswith(", ") or "." in t]
        if bad_tails or (self.lag_rate > 0 and not self.lag_tails):
            raise ValueError(
                f"lag_tails {bad_tails or list(self.lag_tails)}: give clauses that start with "
                "', ' and hold no period (e.g. ', so I note that down')"
            )
        unknown = [f for f in self.families if f not in FAMILIES]
        if unknown or not self.families:
            raise ValueError(f"families: unknown {unknown}; choose from {', '.join(FAMILIES)}")
        for template in self.phrasings:
            if "{wrong}" not in template or not ("{fix}" in template or "{Fix}" in template):
                raise ValueError(
                    f"phrasings: {template!r} must contain {{wrong}} and {{fix}} or {{Fix}}, "
                    "so that every backtrack states both values"
                )


@dataclass(frozen=True, kw_only=True)
class Sentence:
    """One sentence of the thinking text, with its span in the completion."""

    text: str
    kind: SentenceKind
    """``opener``, ``step`` (correct), ``error`` (a wrong step), ``check`` (a step redone from
    its sources) or ``backtrack``."""
    start: int
    """Character offset of the sentence in :attr:`SyntheticTrace.completion`."""
    step: int | None = None
    """Index of the solution step it states (or, for a backtrack, corrects)."""
    value: Value | None = None
    """The value it states (for a backtrack: the corrected value)."""
    wrong: Value | None = None
    """For a backtrack: the wrong number it names ("…, not 54.")."""
    injected: tuple[int, int] | None = None
    """For an error: the span (in the sentence's text) that differs from the right step — the
    injected wrong value, or a wrongly copied number and the result computed from it; the
    finetuning loss can skip it (``FinetuneConfig.mask_errors``)."""

    @property
    def end(self) -> int:
        return self.start + len(self.text)

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "kind": self.kind, "start": self.start, "end": self.end,
                "step": self.step, "value": self.value, "wrong": self.wrong,
                "injected": self.injected}  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class SyntheticTrace:
    """A problem and its synthetic completion, with ground truth."""

    problem: Problem
    completion: str
    """Assistant text after the ``<think>\\n`` generation prompt: thinking, ``</think>``, answer."""
    sentences: tuple[Sentence, ...]
    answer: Value
    """The answer the trace states (wrong only if an uncaught error propagated)."""

    @property
    def thinking(self) -> str:
        return self.completion.split(THINK_END, 1)[0]

    @property
    def backtracks(self) -> tuple[Sentence, ...]:
        return tuple(s for s in self.sentences if s.kind == "backtrack")

    @property
    def errors(self) -> tuple[Sentence, ...]:
        return tuple(s for s in self.sentences if s.kind == "error")

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.problem.id,
            "problem": self.problem.to_json(),
            "completion": self.completion,
            "answer": self.answer,
            "sentences": [s.to_json() for s in self.sentences],
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> SyntheticTrace:
        sentences = tuple(
            Sentence(
                text=s["text"],
                kind=s["kind"],
                start=s["start"],
                step=s["step"],
                value=s["value"],
                wrong=s.get("wrong"),
                injected=tuple(s["injected"]) if s.get("injected") else None,  # type: ignore[arg-type]
            )
            for s in obj["sentences"]
        )
        return cls(
            problem=Problem.from_json(obj["problem"]),
            completion=obj["completion"],
            sentences=sentences,
            answer=obj["answer"],
        )


def wrong_value(s: Step, rng: random.Random) -> Value:
    """A plausible wrong value for step ``s``: off by one or two, a flipped word, the other operand."""
    value = s.value
    if s.op == "parity":
        return "odd" if value == "even" else "even"
    if value in ("true", "false"):
        return "false" if value == "true" else "true"
    if s.op in ("max", "min"):
        return next(int(x) for x in s.operands if x != value)
    if not isinstance(value, int):
        raise ValueError(f"no wrong value for step {s.op!r} with value {value!r}")
    choices = [value + d for d in (-2, -1, 1, 2) if value + d >= 0]
    if s.op == "mul":
        a, b = (int(x) for x in s.operands)
        choices += [a * (b + 1), a * (b - 1), value + 10, value - 10]
    choices = [c for c in choices if c != value and c >= 0]
    return rng.choice(choices)


def restate(s: Step, value: Value, *, capital: bool) -> str:
    """The step's sentence stating ``value``, without its final period, for use inside a sentence."""
    text = s.render(value).rstrip(".")
    if text.startswith("So "):
        text = text[3:]
    if not capital and text.startswith(LOWERCASE_LEADS):
        text = text[0].lower() + text[1:]
    if capital:
        text = text[0].upper() + text[1:]
    return text


def backtrack_sentence(s: Step, wrong: Value, template: str) -> str:
    """A backtracking sentence correcting ``wrong`` to the step's value, stating both."""
    return template.format(
        fix=restate(s, s.value, capital=False), Fix=restate(s, s.value, capital=True), wrong=wrong
    )


Part = tuple[str, SentenceKind, "int | None", "Value | None", "Value | None"]


def copy_error(s: Step, prompt: str, rng: random.Random) -> tuple[int, Step] | None:
    """Step ``s`` with one copied number changed (its arithmetic redone), or None if it has none.

    Copied numbers are shown operands that come from an earlier step (``refs``) or appear as a
    number in the prompt.
    """
    if s.op not in ("add", "sub", "mul"):
        return None
    refs = s.refs or (None,) * len(s.operands)
    shown = [
        k for k, x in enumerate(s.operands)
        if f"{{{k}}}" in s.template and isinstance(x, int)
        and (refs[k] is not None or re.search(rf"(?<![\d.]){x}(?![\d])", prompt))
    ]  # fmt: skip
    if not shown:
        return None
    k = rng.choice(shown)
    true = int(s.operands[k])
    operands = list(s.operands)
    operands[k] = rng.choice([true + d for d in (-2, -1, 1, 2) if true + d >= 1])
    return k, replace(s, operands=tuple(operands), value=solve(s.op, tuple(operands)))


def _error_parts(
    problem: Problem, steps: tuple[Step, ...], i: int, rng: random.Random, config: TraceConfig
) -> tuple[list[Part], Value | None]:
    """Sentences for an erroneous step ``i`` (error, backtrack, maybe a redo) and the wrong value
    to propagate when the error is not caught."""
    s = steps[i]
    copied = copy_error(s, problem.prompt, rng) if "copy" in config.error_kinds else None
    allowed = [k for k in config.error_kinds if k == "value" or copied is not None]
    kind = rng.choice(allowed or ["value"])  # a step with no copied number gets a value error
    caught = rng.random() < config.catch_rate
    template = rng.choice(config.phrasings)
    if kind == "value":
        wrong = wrong_value(s, rng)
        parts: list[Part] = [(s.render(wrong), "error", i, wrong, None)]
        if caught:
            parts.append((backtrack_sentence(s, wrong, template), "backtrack", i, s.value, wrong))
        return parts, None if caught else wrong
    assert copied is not None  # kind "copy" is only drawn when there is a copied number
    k, bad = copied
    ref = (s.refs or (None,) * len(s.operands))[k]
    fix = (
        restate(steps[ref], steps[ref].value, capital=False)
        if ref is not None
        else f"the problem says {s.operands[k]}"
    )
    fix_cap = fix[0].upper() + fix[1:]
    parts = [(bad.text, "error", i, bad.value, None)]
    if not caught:
        return parts, bad.value
    text = template.format(fix=fix, Fix=fix_cap, wrong=bad.operands[k])
    parts += [
        (text, "backtrack", i, s.operands[k], bad.operands[k]),
        (s.text, "step", i, s.value, None),
    ]
    return parts, None


def differing_span(wrong: str, right: str) -> tuple[int, int]:
    """``(start, end)`` in ``wrong`` of what differs from ``right`` (common prefix and suffix
    left out): the injected value, or a wrongly copied number through the result computed from
    it."""
    prefix = 0
    while prefix < min(len(wrong), len(right)) and wrong[prefix] == right[prefix]:
        prefix += 1
    suffix = 0
    while (
        suffix < min(len(wrong), len(right)) - prefix
        and wrong[len(wrong) - 1 - suffix] == right[len(right) - 1 - suffix]
    ):
        suffix += 1
    return prefix, len(wrong) - suffix


def with_lag(text: str, tail: str) -> str:
    """``text`` with the lag clause ``tail`` before its final period ("7 × 8 = 56, so ….")."""
    return f"{text[:-1]}{tail}." if text.endswith(".") else f"{text}{tail}."


def with_checks(
    parts: list[Part], steps: Sequence[Step], rng: random.Random, rate: float
) -> list[Part]:
    """Insert a check after each step or error sentence (with probability ``rate``): the true step
    redone from its sources, so an error and its check disagree."""
    out: list[Part] = []
    for part in parts:
        out.append(part)
        index = part[2]
        if part[1] in ("step", "error") and index is not None and rng.random() < rate:
            text = CHECK_PREFIX + restate(steps[index], steps[index].value, capital=False) + "."
            out.append((text, "check", index, steps[index].value, None))
    return out


def make_trace(problem: Problem, rng: random.Random, config: TraceConfig) -> SyntheticTrace:
    """Draw one synthetic trace for ``problem`` (see :class:`TraceConfig`)."""
    steps = problem.steps
    n_errors = 0
    if rng.random() < config.error_rate:
        n_errors = min(rng.randint(1, config.max_errors), len(steps))
    error_at = set(rng.sample(range(len(steps)), n_errors))
    parts: list[Part] = []
    if rng.random() < config.opener_rate:
        parts.append((rng.choice(OPENERS), "opener", None, None, None))
    right_text: dict[int, str] = {}
    for i in range(len(steps)):
        if i not in error_at:
            parts.append((steps[i].text, "step", i, steps[i].value, None))
            continue
        right_text[i] = steps[i].text
        error_parts, uncaught = _error_parts(problem, steps, i, rng, config)
        parts += error_parts
        if uncaught is not None:
            steps = propagate_error(steps, i, uncaught)
    parts = with_checks(parts, steps, rng, config.check_rate)
    answer = final_answer(str(problem.category), tuple(steps))
    sentences: list[Sentence] = []
    offset = 0
    for text, kind, index, value, wrong in parts:
        injected = None
        if kind == "error" and index is not None:
            injected = differing_span(text, right_text[index])
        if kind in ("step", "error") and config.lag_rate > 0 and rng.random() < config.lag_rate:
            text = with_lag(text, rng.choice(config.lag_tails))
        sentences.append(Sentence(text=text, kind=kind, start=offset, step=index, value=value,
                                  wrong=wrong, injected=injected))  # fmt: skip
        offset += len(text) + 1
    parts = [(s.text, s.kind, s.step, s.value, s.wrong) for s in sentences]
    thinking = "\n".join(part[0] for part in parts)
    completion = f"{thinking}\n{THINK_END}\nThe answer is {answer}."
    return SyntheticTrace(
        problem=problem, completion=completion, sentences=tuple(sentences), answer=answer
    )


def make_traces(problems: Sequence[Problem], config: TraceConfig) -> list[SyntheticTrace]:
    """One trace per problem, seeded by ``config.trace_seed`` (same config → same traces)."""
    rng = random.Random(config.trace_seed + 1_000_003)
    return [make_trace(p, rng, config) for p in problems]


@dataclass(frozen=True, kw_only=True)
class TraceStats:
    """Shares in a set of synthetic traces (to check a config does what it says)."""

    n_traces: int
    with_backtrack: float
    """Share of traces with at least one backtracking sentence."""
    error_steps: float
    """Share of solution steps that are wrong."""
    mean_chars: float
    by_family: dict[str, int] = field(default_factory=dict)


def trace_stats(traces: Sequence[SyntheticTrace]) -> TraceStats:
    n_steps = sum(1 for t in traces for s in t.sentences if s.kind in ("step", "error"))
    n_errors = sum(len(t.errors) for t in traces)
    by_family: dict[str, int] = {}
    for t in traces:
        by_family[str(t.problem.category)] = by_family.get(str(t.problem.category), 0) + 1
    return TraceStats(
        n_traces=len(traces),
        with_backtrack=sum(bool(t.backtracks) for t in traces) / max(1, len(traces)),
        error_steps=n_errors / max(1, n_steps),
        mean_chars=sum(len(t.completion) for t in traces) / max(1, len(traces)),
        by_family=by_family,
    )
