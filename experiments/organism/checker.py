"""Check generated thinking text against a problem's solver: which steps are wrong, which backtrack.

A generated sentence is matched against the problem's own step templates, with every shown operand
and the value free (``"Ones: 7 + 8 = 14."`` matches ``"Ones: {0} + {1} = {value}."``), and an
optional clause after the value (``"Ones: 7 + 8 = 14, so I note that down."``); the solver
then recomputes the value from the operands as written (operands a template does not show, such as
the prompt's number in a copy step, are the problem's). A sentence that matches no template is
``unparsed``. Backtracking sentences are found by their opening words, as a keyword labeller does.

This is how the organism's grounding is measured: does a backtracking sentence follow a step that
is actually wrong?
"""

from __future__ import annotations

import dataclasses
import functools
import re
import string
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from experiments.prompts.problem import Problem
from experiments.prompts.steps import Step, Value, solve

Verdict = Literal["correct", "wrong", "unparsed"]
BACKTRACK_RE = re.compile(
    r"^(but wait|wait|hmm|actually|oops|no,|let me (re-?check|redo|double-check|check))\b",
    re.IGNORECASE,
)
"""Opening words of a backtracking sentence (case-insensitive)."""
NOT_RE = re.compile(r"^(?P<fix>.*), not (?P<wrong>[-\w/?]+)\.?$")
"""A correction that states both values: "<the step with the right value>, not <wrong value>"."""
TOKEN = r"-?\d+|true|false|even|odd|yes|no"
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=\S)")
CHECK_RE = re.compile(r"^check\s*:\s*", re.IGNORECASE)
"""A verification sentence: the step redone ("Check: 7 × 8 = 56.")."""
PROBLEM_SAYS_RE = re.compile(r"the problem says (?P<value>-?\d+|true|false)", re.IGNORECASE)
LAG_CLAUSE = r"(?:, (?!not )[^.,]*)?"
"""An optional clause after a step's value (", so I note that down"), as v6 traces write; not a
correction's ", not 54"."""
OPENER_RE = re.compile(r"^(but wait|wait|hmm|actually|oops|no)\s*,\s*", re.IGNORECASE)


@dataclass(frozen=True, kw_only=True)
class CheckedSentence:
    """One sentence of generated thinking and the solver's verdict on it."""

    text: str
    backtrack: bool
    """Opens with a backtracking phrase ("Wait", "Hmm", …)."""
    verdict: Verdict
    """For a step: whether its value is what the solver computes from its operands."""
    stated: Value | None = None
    expected: Value | None = None
    check: bool = False
    """A verification sentence ("Check: 7 × 8 = 56."): judged, but not counted as a step."""


@dataclass(frozen=True, kw_only=True)
class Backtrack:
    """A backtracking sentence and what it reacted to."""

    index: int
    """Sentence index of the backtrack."""
    previous: Verdict | None
    """Verdict on the last step sentence before it (None: no step before it)."""
    previous_index: int | None
    """Sentence index of that step (None: no step before it)."""
    correction: Verdict
    """Whether the value it corrects to is right (``unparsed``: no "X, not Y" statement)."""
    same_value: bool
    """It "corrects" a step to the value that step already stated (an empty backtrack)."""


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text``: split at line breaks and after ``.!?`` followed by a space."""
    out: list[str] = []
    for line in text.splitlines():
        out += [s.strip() for s in SENTENCE_END.split(line.strip()) if s.strip()]
    return out


@functools.lru_cache(maxsize=4096)
def template_regex(template: str) -> re.Pattern[str]:
    """Regex of a step template: ``{i}`` captures operand i, ``{value}`` the value."""
    pattern = ""
    seen: set[str] = set()
    for literal, field, _, _ in string.Formatter().parse(template):
        pattern += re.escape(literal)
        if field is None:
            continue
        name = "value" if field == "value" else f"o{field}"
        # a field shown twice ("{0} + {0}") must be the same text both times
        pattern += f"(?P={name})" if name in seen else f"(?P<{name}>{TOKEN}|[?])"
        seen.add(name)
    return re.compile(pattern.rstrip(r"\.") + LAG_CLAUSE + r"\.?", re.IGNORECASE)


def parse_value(text: str) -> Value:
    text = text.lower()
    return int(text) if re.fullmatch(r"-?\d+", text) else text


def _match(sentence: str, s: Step) -> tuple[tuple[Value, ...], Value] | None:
    """(operands as written — hidden ones from ``s`` —, stated value) if ``sentence`` fits ``s``."""
    match = template_regex(s.template).fullmatch(sentence.strip())
    if match is None:
        return None
    operands = tuple(
        parse_value(match[f"o{i}"]) if f"o{i}" in match.groupdict() else s.operands[i]
        for i in range(len(s.operands))
    )
    return operands, parse_value(match["value"])


def check_step(sentence: str, steps: Sequence[Step]) -> CheckedSentence:
    """Match ``sentence`` against the step templates and re-solve it from its written operands."""
    for s in steps:
        found = _match(sentence, s)
        if found is None:
            continue
        operands, stated = found
        try:
            expected = solve(s.op, operands)
        except (TypeError, ValueError, ZeroDivisionError):
            continue
        verdict: Verdict = "correct" if stated == expected else "wrong"
        return CheckedSentence(text=sentence, backtrack=False, verdict=verdict, stated=stated,
                               expected=expected)  # fmt: skip
    return CheckedSentence(text=sentence, backtrack=False, verdict="unparsed")


def check_against_solution(
    sentence: str, problem: Problem, seen: dict[str, int]
) -> CheckedSentence:
    """Like :func:`check_step`, and also ``wrong`` if a written operand is not the true one.

    An operand copied wrongly (from the prompt or an earlier step: "16 - 9 = 7." where the
    solution has 15 - 9) makes the step wrong even though its arithmetic holds. The sentence is
    compared with the solution step of the same template, in order of occurrence (``seen`` counts
    occurrences per template), preferring a step whose true operands are exactly the written ones.
    """
    checked = check_step(sentence, problem.steps)
    if checked.verdict == "unparsed":
        return checked
    candidates = [s for s in problem.steps if _match(sentence, s) is not None]
    template = candidates[0].template
    index = min(seen.get(template, 0), len(candidates) - 1)
    seen[template] = seen.get(template, 0) + 1
    written = _match(sentence, candidates[0])
    if (
        checked.verdict == "wrong"
        or written is None
        or any(written[0] == s.operands for s in candidates)
    ):
        return checked
    return CheckedSentence(text=sentence, backtrack=False, verdict="wrong", stated=written[1],
                           expected=candidates[index].value)  # fmt: skip


def check_thinking(thinking: str, problem: Problem) -> list[CheckedSentence]:
    """Verdicts on every sentence of generated thinking text (backtracks are not re-solved).

    A step is ``wrong`` if its value is not what the solver computes from its written operands,
    or if an operand is not the true one (a wrongly copied number, or an earlier error carried
    forward). Check sentences are judged on their own arithmetic and marked ``check``.
    """
    out: list[CheckedSentence] = []
    seen: dict[str, int] = {}
    for sentence in split_sentences(thinking):
        if BACKTRACK_RE.match(sentence):
            out.append(CheckedSentence(text=sentence, backtrack=True, verdict="unparsed"))
        elif CHECK_RE.match(sentence):
            body = CHECK_RE.sub("", sentence)
            checked = check_step(body[0].upper() + body[1:], problem.steps) if body else None
            if checked is None or checked.verdict == "unparsed":
                checked = check_step(body, problem.steps)
            out.append(dataclasses.replace(checked, text=sentence, check=True))
        else:
            out.append(check_against_solution(sentence, problem, seen))
    return out


def correction_of(text: str, problem: Problem) -> tuple[CheckedSentence, Value] | None:
    """The "<step with the right value>, not <wrong value>" statement in ``text``, checked."""
    body = OPENER_RE.sub("", text.strip())
    match = NOT_RE.match(body)
    if match is None or not match["fix"].strip():
        return None
    fix = match["fix"].strip()
    quoted = PROBLEM_SAYS_RE.fullmatch(fix)
    if quoted:  # a number copied wrongly from the prompt: right if the prompt has that number
        said = parse_value(quoted["value"])
        in_prompt = re.search(rf"(?<![\d.]){re.escape(str(said))}(?!\d)", problem.prompt)
        verdict: Verdict = "correct" if in_prompt else "wrong"
        return CheckedSentence(
            text=fix, backtrack=False, verdict=verdict, stated=said
        ), parse_value(match["wrong"])
    for candidate in (fix, fix[0].upper() + fix[1:], "So " + fix):
        checked = check_step(candidate + ".", problem.steps)
        if checked.verdict != "unparsed":
            return checked, parse_value(match["wrong"])
    return CheckedSentence(text=fix, backtrack=False, verdict="unparsed"), parse_value(
        match["wrong"]
    )


def find_backtracks(sentences: Sequence[CheckedSentence], problem: Problem) -> list[Backtrack]:
    """Every backtracking sentence, with the verdict on the step it follows and its correction.

    The step a backtrack follows is the nearest earlier sentence that is neither a backtrack nor
    a correction ("…, not …"); its verdict may be ``unparsed``. The correction is read from the
    backtracking sentence or, for "Hmm, that's not right. 5 is odd, not even.", the next one.
    """
    out: list[Backtrack] = []
    for i, sentence in enumerate(sentences):
        if not sentence.backtrack:
            continue
        previous_index = next(
            (
                j
                for j in range(i - 1, -1, -1)
                if not (
                    sentences[j].backtrack
                    or sentences[j].check
                    or _is_correction(sentences[j].text)
                )
            ),
            None,
        )
        previous = None if previous_index is None else sentences[previous_index]
        texts = [sentence.text] + ([sentences[i + 1].text] if i + 1 < len(sentences) else [])
        found = next((c for c in (correction_of(t, problem) for t in texts) if c), None)
        fixed = found[0] if found else None
        same = (
            previous is not None and fixed is not None and fixed.stated is not None
            and fixed.stated == previous.stated and not PROBLEM_SAYS_RE.fullmatch(fixed.text)
        )  # fmt: skip
        out.append(Backtrack(
            index=i, previous=None if previous is None else previous.verdict,
            previous_index=previous_index,
            correction=fixed.verdict if fixed else "unparsed", same_value=same,
        ))  # fmt: skip
    return out


def _is_correction(text: str) -> bool:
    return NOT_RE.match(OPENER_RE.sub("", text.strip())) is not None
