"""Problem families a 135M model can check: single-digit facts, parity, comparisons, copied numbers.

Each family turns a seeded RNG into a :class:`~experiments.prompts.problem.Problem` whose worked
solution is a tuple of solver-checked :class:`~experiments.prompts.steps.Step`. Every step is a
short sentence whose correctness is decidable *locally* — from the step's own operands (``7 + 8 =
15``, ``8 is even``, ``9 is larger``) or from a number stated in the prompt (``Mia starts with 6
apples``) — because the organism's backtracking should be grounded in errors the model can notice.
A feasibility probe with long multi-digit steps produced backtracks that mostly "corrected" a
step to the same value.

Templates show every operand except in copy steps (``op="same"``), where the operand is the number
in the prompt; :mod:`experiments.organism.checker` relies on that to re-solve generated sentences.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping

from experiments.prompts.problem import Problem
from experiments.prompts.steps import Step, step

NAMES = ("Mia", "Tom", "Ana", "Ben", "Lea", "Sam", "Ivy", "Max", "Zoe", "Leo")
ITEMS = ("apples", "pens", "cards", "shells", "stamps", "coins", "books", "eggs")
LETTERS = ("A", "B", "C", "D", "E", "F", "G", "H", "P", "Q")


def carry_add(rng: random.Random) -> tuple[str, tuple[Step, ...]]:
    """Two-digit addition with a carry: ones, tens (+1), the sum."""
    a1, b1 = rng.randint(2, 9), rng.randint(2, 9)
    while a1 + b1 < 10:
        a1, b1 = rng.randint(2, 9), rng.randint(2, 9)
    a10, b10 = rng.randint(1, 4), rng.randint(1, 4)
    a, b = 10 * a10 + a1, 10 * b10 + b1
    prompt = rng.choice(("What is {a} + {b}?", "Add {a} and {b}.", "Compute {a} + {b}."))
    steps = (
        step("add", (a1, b1), "Ones: {0} + {1} = {value}."),
        step("add", (a10, b10, 1), "Tens: {0} + {1} + {2} = {value}."),
        step("add", (a, b), "So {0} + {1} = {value}."),
    )
    return prompt.format(a=a, b=b), steps


def word_problem(rng: random.Random) -> tuple[str, tuple[Step, ...]]:
    """Start with n items, gain some, lose some: a copied number, then two small operations."""
    name, item = rng.choice(NAMES), rng.choice(ITEMS)
    start, gain = rng.randint(3, 9), rng.randint(2, 9)
    lose = rng.randint(2, min(9, start + gain - 1))
    prompt = (
        f"{name} has {start} {item}. {name} gets {gain} more and then gives away {lose}. "
        f"How many {item} does {name} have now?"
    )
    total = start + gain
    steps = (
        step("same", (start,), f"{name} starts with {{value}} {item}."),
        step("add", (start, gain), "{0} + {1} = {value}.", refs=(0, None)),
        step("sub", (total, lose), "{0} - {1} = {value}.", refs=(1, None)),
    )
    return prompt, steps


def count_odd(rng: random.Random) -> tuple[str, tuple[Step, ...]]:
    """Count the odd (or even) digits in a short list: one parity fact per digit."""
    digits = [rng.randint(1, 9) for _ in range(rng.randint(3, 5))]
    kind = rng.choice(("odd", "even"))
    listed = ", ".join(str(d) for d in digits)
    prompt = f"How many {kind} numbers are in the list {listed}?"
    steps = tuple(step("parity", (d,), "{0} is {value}.") for d in digits)
    parities = " ".join(str(s.value) for s in steps)
    final = step("count", (parities, kind), f"So there are {{value}} {kind} numbers.")
    return prompt, (*steps, final)


def largest(rng: random.Random) -> tuple[str, tuple[Step, ...]]:
    """The largest (or smallest) of 3-4 distinct digits, by a running comparison."""
    digits = rng.sample(range(1, 10), rng.randint(3, 4))
    op = rng.choice(("max", "min"))
    word = "largest" if op == "max" else "smallest"
    comparative = "larger" if op == "max" else "smaller"
    prompt = f"Which number is the {word}: {', '.join(str(d) for d in digits)}?"
    steps: list[Step] = []
    best = digits[0]
    for i, d in enumerate(digits[1:]):
        refs = (None, None) if i == 0 else (i - 1, None)
        s = step(op, (best, d), f"Compare {{0}} and {{1}}: {{value}} is {comparative}.", refs)
        steps.append(s)
        best = int(s.value)
    return prompt, tuple(steps)


def sequence(rng: random.Random) -> tuple[str, tuple[Step, ...]]:
    """Next term of an arithmetic sequence: the difference, then the next term."""
    first, diff, shown = rng.randint(1, 29), rng.randint(2, 9), rng.randint(3, 4)
    terms = [first + i * diff for i in range(shown)]
    listed = ", ".join(str(t) for t in terms)
    prompt = rng.choice(("What number comes next: {}, ...?", "Continue the sequence {}, ..."))
    steps = (
        step("sub", (terms[1], terms[0]), "The difference is {0} - {1} = {value}."),
        step("add", (terms[-1], diff), "Next: {0} + {1} = {value}.", refs=(None, 0)),
    )
    return prompt.format(listed), steps


def logic(rng: random.Random) -> tuple[str, tuple[Step, ...]]:
    """Copy two truth values from the prompt, then combine them with ``and`` / ``or``."""
    x, y = rng.sample(LETTERS, 2)
    vx, vy = rng.choice(("true", "false")), rng.choice(("true", "false"))
    op = rng.choice(("and", "or"))
    question = rng.choice(("Is '{x} {op} {y}' true?", "Is it true that {x} {op} {y}?"))
    prompt = f"{x} is {vx}. {y} is {vy}. " + question.format(x=x, op=op, y=y)
    steps = (
        step("same", (vx,), f"{x} is {{value}}."),
        step("same", (vy,), f"{y} is {{value}}."),
        step(op, (vx, vy), f"{{0}} {op} {{1}} is {{value}}.", refs=(0, 1)),
    )
    return prompt, steps


def times_plus(rng: random.Random) -> tuple[str, tuple[Step, ...]]:
    """A times-table fact, then a small addition: ``7 × 8 + 5``."""
    a, b, c = rng.randint(2, 9), rng.randint(2, 9), rng.randint(1, 9)
    prompt = rng.choice(("What is {a} × {b} + {c}?", "Compute {a} × {b} + {c}."))
    product = a * b
    steps = (
        step("mul", (a, b), "{0} × {1} = {value}."),
        step("add", (product, c), "{0} + {1} = {value}.", refs=(0, None)),
    )
    return prompt.format(a=a, b=b, c=c), steps


Family = Callable[[random.Random], "tuple[str, tuple[Step, ...]]"]
FAMILIES: Mapping[str, Family] = {
    "carry_add": carry_add,
    "word_problem": word_problem,
    "count_odd": count_odd,
    "largest": largest,
    "sequence": sequence,
    "logic": logic,
    "times_plus": times_plus,
}
"""Family name → builder of (prompt, steps); the family name is the problem's ``category``."""


def final_answer(category: str, steps: tuple[Step, ...]) -> int | str:
    """The problem's answer: the last step's value (``yes``/``no`` for logic)."""
    value = steps[-1].value
    if category == "logic":
        return "yes" if value == "true" else "no"
    return value


def problem_key(problem: Problem) -> str:
    """Identity of a problem regardless of phrasing: its family and worked solution."""
    return f"{problem.category}|{problem.solution_text}"


def make_problems(
    n: int, *, seed: int, families: tuple[str, ...] = tuple(FAMILIES), prefix: str = "org",
    exclude: frozenset[str] = frozenset(),
) -> list[Problem]:  # fmt: skip
    """``n`` distinct problems, families in turn, seeded; keys in ``exclude`` are skipped.

    Problems are distinct by :func:`problem_key` (two phrasings of one problem count once). Pass
    the training problems' keys as ``exclude`` to build a held-out set that shares none of them.
    """
    unknown = [f for f in families if f not in FAMILIES]
    if unknown or not families:
        raise ValueError(
            f"families={families!r}: unknown {unknown}; choose from {', '.join(FAMILIES)}"
        )
    rng = random.Random(seed)
    seen = set(exclude)
    problems: list[Problem] = []
    attempts = 0
    while len(problems) < n:
        attempts += 1
        if attempts > 50 * n + 1000:
            raise ValueError(f"cannot draw {n} distinct problems from families {families}")
        category = families[len(problems) % len(families)]
        prompt, steps = FAMILIES[category](rng)
        problem = Problem(
            id=f"{prefix}-{category}-{len(problems):05d}",
            prompt=prompt,
            category=category,
            answer=final_answer(category, steps),
            steps=steps,
        )
        if problem_key(problem) in seen:
            continue
        seen.add(problem_key(problem))
        problems.append(problem)
    return problems
