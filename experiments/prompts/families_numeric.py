"""Problem families over numbers: single-digit arithmetic, carries, parity, comparison, sequences,
probability. Each family draws one problem from a seeded ``random.Random``; the answer and every
step value come from the solver (:func:`~experiments.prompts.steps.step`), never typed in."""

from __future__ import annotations

import random

from experiments.prompts.draft import Draft
from experiments.prompts.steps import step


def arithmetic(rng: random.Random) -> Draft:
    """Two single-digit facts in one expression, with operator precedence."""
    a, b, c = rng.randint(2, 9), rng.randint(2, 9), rng.randint(2, 9)
    form = rng.randrange(3)
    if form == 0:
        s0 = step("mul", (b, c), "First the product: {0} × {1} = {value}.")
        s1 = step("add", (a, s0.value), "Then {0} + {1} = {value}.", refs=(None, 0))
        return Draft(f"What is {a} + {b} × {c}?", (s0, s1))
    if form == 1:
        s0 = step("mul", (a, b), "First the product: {0} × {1} = {value}.")
        c = rng.randint(1, min(9, a * b - 1))
        s1 = step("sub", (s0.value, c), "Then {0} − {1} = {value}.", refs=(0, None))
        return Draft(f"What is {a} × {b} − {c}?", (s0, s1))
    s0 = step("add", (a, b), "First the brackets: {0} + {1} = {value}.")
    s1 = step("mul", (s0.value, c), "Then {0} × {1} = {value}.", refs=(0, None))
    return Draft(f"What is ({a} + {b}) × {c}?", (s0, s1))


def carry(rng: random.Random) -> Draft:
    """Two-digit addition whose ones column carries."""
    while True:
        x, y = rng.randint(12, 89), rng.randint(12, 89)
        if x % 10 + y % 10 >= 10 and x + y < 200:
            break
    s0 = step("add", (x % 10, y % 10), "Add the ones: {0} + {1} = {value}.")
    s1 = step("carry", (s0.value,), "{0} is ten or more, so carry {value}.", refs=(0,))
    s2 = step(
        "add",
        (x // 10, y // 10, s1.value),
        "Add the tens and the carry: {0} + {1} + {2} = {value}.",
        refs=(None, None, 1),
    )
    s3 = step("join_tens", (s2.value, s0.value), f"So {x} + {y} = {{value}}.", refs=(2, 0))
    return Draft(f"What is {x} + {y}?", (s0, s1, s2, s3))


def parity(rng: random.Random) -> Draft:
    """Is a short sum (or a product) even or odd?"""
    if rng.random() < 0.7:
        nums = [rng.randint(1, 9) for _ in range(rng.randint(3, 4))]
        steps = [step("add", (nums[0], nums[1]), "{0} + {1} = {value}.")]
        for n in nums[2:]:
            steps.append(
                step(
                    "add", (steps[-1].value, n), "{0} + {1} = {value}.", refs=(len(steps) - 1, None)
                )
            )
        question = f"Is {' + '.join(map(str, nums))} even or odd?"
    else:
        a, b = rng.randint(2, 9), rng.randint(2, 9)
        steps = [step("mul", (a, b), "{0} × {1} = {value}.")]
        question = f"Is the product of {a} and {b} even or odd?"
    steps.append(step("parity", (steps[-1].value,), "{0} is {value}.", refs=(len(steps) - 1,)))
    return Draft(question, tuple(steps))


def comparison(rng: random.Random) -> Draft:
    """Which of two products (or sums) is larger; the answer is the larger value."""
    while True:
        a, b, c, d = (rng.randint(2, 9) for _ in range(4))
        op, sym = ("mul", "×") if rng.random() < 0.7 else ("add", "+")
        s0 = step(op, (a, b), f"{{0}} {sym} {{1}} = {{value}}.")
        s1 = step(op, (c, d), f"{{0}} {sym} {{1}} = {{value}}.")
        if s0.value != s1.value and {a, b} != {c, d}:
            break
    s2 = step("max", (s0.value, s1.value), "The larger of {0} and {1} is {value}.", refs=(0, 1))
    question = f"Which is larger, {a} {sym} {b} or {c} {sym} {d}? Give the larger value."
    return Draft(question, (s0, s1, s2))


def sequence(rng: random.Random) -> Draft:
    """The next term of an arithmetic or geometric sequence."""
    if rng.random() < 0.65:
        start, diff = rng.randint(1, 20), rng.randint(2, 9)
        terms = [start + diff * i for i in range(4)]
        s0 = step("sub", (terms[1], terms[0]), "Each term grows by {0} − {1} = {value}.")
        s1 = step(
            "add", (terms[-1], s0.value), "The next term is {0} + {1} = {value}.", refs=(None, 0)
        )
    else:
        start, ratio = rng.randint(1, 5), rng.randint(2, 3)
        terms = [start * ratio**i for i in range(4)]
        s0 = step(
            "div", (terms[1], terms[0]), "Each term is the previous one times {0} ÷ {1} = {value}."
        )
        s1 = step(
            "mul", (terms[-1], s0.value), "The next term is {0} × {1} = {value}.", refs=(None, 0)
        )
    question = f"What number comes next in the sequence {', '.join(map(str, terms))}, …?"
    return Draft(question, (s0, s1))


def probability(rng: random.Random) -> Draft:
    """Drawing one marble from a bag: a probability as a reduced fraction."""
    colours = rng.sample(["red", "blue", "green", "yellow", "white"], 3)
    counts = [rng.randint(1, 9) for _ in colours]
    s0 = step(
        "add",
        tuple(counts),
        "There are {0} + {1} + {2} = {value} marbles.",
    )
    bag = ", ".join(f"{n} {c}" for n, c in zip(counts[:-1], colours[:-1], strict=True))
    bag += f" and {counts[-1]} {colours[-1]}"
    target = rng.randrange(3)
    if rng.random() < 0.6:
        s1 = step(
            "fraction",
            (counts[target], s0.value),
            f"{{0}} of them are {colours[target]}, so the probability is {{0}}/{{1}} = {{value}}.",
            refs=(None, 0),
        )
        question = f"A bag holds {bag} marbles. One marble is drawn at random. What is the probability that it is {colours[target]}? Give a reduced fraction."
        return Draft(question, (s0, s1))
    s1 = step(
        "sub",
        (s0.value, counts[target]),
        f"{{0}} − {{1}} = {{value}} are not {colours[target]}.",
        refs=(0, None),
    )
    s2 = step(
        "fraction", (s1.value, s0.value), "The probability is {0}/{1} = {value}.", refs=(1, 0)
    )
    question = f"A bag holds {bag} marbles. One marble is drawn at random. What is the probability that it is not {colours[target]}? Give a reduced fraction."
    return Draft(question, (s0, s1, s2))
