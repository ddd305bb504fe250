"""Problem families in words: counting, simple logic, a constraint stated in the prompt, and
word problems. Like the numeric families, every value comes from the solver."""

from __future__ import annotations

import random

from experiments.prompts.draft import Draft
from experiments.prompts.steps import Step, step

WORDS = (
    "banana", "strawberry", "mississippi", "committee", "balloon", "letter", "bookkeeper",
    "coffee", "parallel", "assessment", "tomorrow", "necessary", "butterfly", "pepper",
    "success", "address", "cinnamon", "giraffe", "raspberry", "occurrence",
)  # fmt: skip
SENTENCES = (
    "The cat sat on the warm mat",
    "We walked to the old bridge after lunch",
    "Three small boats sailed across the lake",
    "My sister reads a new book every week",
    "The red train left the station at noon",
    "Birds sing early in the morning",
    "He painted the fence blue and white",
    "Our team won the game by two points",
)
NAMES = ("Mia", "Leo", "Ana", "Sam", "Kai", "Zoe", "Ben", "Ivy", "Noah", "Lena")
ITEMS = ("apples", "pencils", "stickers", "marbles", "cookies", "stamps", "shells", "cards")


def counting(rng: random.Random) -> Draft:
    """How often a letter occurs in a word, or how many words a sentence has."""
    if rng.random() < 0.7:
        word = rng.choice(WORDS)
        letter = rng.choice(sorted({c for c in word if word.count(c) >= 2}))
        spelled = "-".join(word)
        s0 = step(
            "count",
            (word, letter),
            f"Spelling it out: {spelled}. The letter '{{1}}' appears {{value}} times.",
        )
        return Draft(
            f"How many times does the letter '{letter}' appear in the word '{word}'?", (s0,)
        )
    sentence = rng.choice(SENTENCES)
    s0 = step("count_words", (sentence,), "Counting the words of '{0}' one by one gives {value}.")
    return Draft(f"How many words are in the sentence '{sentence}'?", (s0,))


_RULES = (
    ("the alarm rings", "the door is open", "the code is entered"),
    ("the lamp is on", "the switch is up", "the fuse is blown"),
    ("the garden gets water", "the tap is open", "the hose is blocked"),
    ("the robot moves", "the battery is charged", "the brake is set"),
    ("the bus stops", "the bell is pressed", "the stop is closed"),
    ("the bread rises", "the dough is warm", "the yeast is old"),
    ("the game starts", "the players are ready", "the field is flooded"),
    ("the shop is busy", "the sun is out", "the road is closed"),
)


def logic(rng: random.Random) -> Draft:
    """A rule "X if A and not B" (or "A or B") and two facts: does X hold?"""
    outcome, cond_a, cond_b = rng.choice(_RULES)
    a, b = rng.choice(("true", "false")), rng.choice(("true", "false"))
    facts = f"It is {a} that {cond_a}. It is {b} that {cond_b}."
    form = rng.random()
    if form < 0.45:
        negated = cond_b.replace(" is ", " is not ", 1).replace(" are ", " are not ", 1)
        s0 = step("not", (b,), f"'{cond_b}' is {{0}}, so '{negated}' is {{value}}.")
        s1 = step(
            "and", (a, s0.value), "Both parts must hold: {0} and {1} gives {value}.", refs=(None, 0)
        )
        rule = f"Rule: {outcome} if {cond_a} and {negated}."
    elif form < 0.7:
        s0 = step("and", (a, b), "Both parts must hold: {0} and {1} gives {value}.")
        s1 = step("same", (s0.value,), "So the rule's condition is {value}.", refs=(0,))
        rule = f"Rule: {outcome} if {cond_a} and {cond_b}."
    else:
        s0 = step("or", (a, b), "One part is enough: {0} or {1} gives {value}.")
        s1 = step("same", (s0.value,), "So the rule's condition is {value}.", refs=(0,))
        rule = f"Rule: {outcome} if {cond_a} or {cond_b}."
    s2 = step("yesno", (s1.value,), "The answer is {value}.", refs=(1,))
    question = f"{rule} {facts} Does it follow that {outcome}? Answer yes or no."
    return Draft(question, (s0, s1, s2))


def constraint(rng: random.Random) -> Draft:
    """The smallest number above a bound that meets a divisibility constraint, found by trying."""
    d = rng.randint(3, 9)
    lo = rng.randint(10, 60)
    while (lo + 1) % d == 0:  # at least one failed candidate before the answer
        lo += 1
    steps: list[Step] = []
    candidate = lo + 1
    while True:
        steps.append(step("mod", (candidate, d), "{0} ÷ {1} leaves remainder {value}."))
        if steps[-1].value == 0:
            break
        candidate += 1
    steps.append(step("same", (candidate,), "So the answer is {value}."))
    question = f"What is the smallest whole number greater than {lo} that is divisible by {d}?"
    return Draft(question, tuple(steps))


def word_problem(rng: random.Random) -> Draft:
    """A few single-digit changes to a quantity, told as a story."""
    name, friend = rng.sample(NAMES, 2)
    item = rng.choice(ITEMS)
    if rng.random() < 0.5:
        have, give = rng.randint(5, 12), rng.randint(1, 4)
        buy = rng.randint(2, 9)
        s0 = step(
            "sub",
            (have, give),
            f"After giving {{1}} to {friend}, {name} has {{0}} − {{1}} = {{value}}.",
        )
        s1 = step(
            "add",
            (s0.value, buy),
            f"After buying {{1}} more, {name} has {{0}} + {{1}} = {{value}}.",
            refs=(0, None),
        )
        question = (
            f"{name} has {have} {item}. {name} gives {give} to {friend} and then buys {buy} more. "
            f"How many {item} does {name} have now?"
        )
        return Draft(question, (s0, s1))
    boxes, per_box = rng.randint(2, 6), rng.randint(3, 9)
    lost = rng.randint(1, per_box)
    s0 = step("mul", (boxes, per_box), "{0} boxes of {1} make {value}.")
    s1 = step(
        "sub",
        (s0.value, lost),
        f"After losing {{1}}, {{0}} − {{1}} = {{value}} {item} remain.",
        refs=(0, None),
    )
    question = (
        f"{name} buys {boxes} boxes with {per_box} {item} in each box and loses {lost} of them. "
        f"How many {item} are left?"
    )
    return Draft(question, (s0, s1))
