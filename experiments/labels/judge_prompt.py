"""What the judge is asked, and the strict parsing of its reply.

The judge sees the problem and numbered sentences of the model's reasoning and must answer with one
JSON object, ``{"labels": {"1": "<category>", "2": ...}}``, naming one of the six categories for
every number. A reply is accepted only if it is exactly that (a surrounding Markdown code fence is
tolerated); otherwise it is malformed, retried, and finally left unlabelled — never guessed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from experiments.labels.categories import CATEGORIES, CATEGORY_MEANINGS, normalize_category

SYSTEM_PROMPT = (
    "You annotate the chain of thought of a language model that solves a problem. Give every "
    "numbered sentence exactly one category:\n"
    + "".join(f"- {name}: {CATEGORY_MEANINGS[name]}\n" for name in CATEGORIES)
    + "Judge each sentence by what it does in the reasoning, using the sentences before it as "
    "context. Reply with one JSON object and nothing else, mapping every sentence number to its "
    'category, for example {"labels": {"1": "initializing", "2": "deduction"}}.'
)
"""The judge's system message."""

_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


def user_message(
    problem: str, sentences: Sequence[str], first_number: int = 1, context: Sequence[str] = ()
) -> str:
    """The user message: the problem, the ``context`` sentences just before (numbered, not to be
    labelled), then the ``[n] sentence`` lines to label, numbered from ``first_number``."""
    start = first_number - len(context)
    earlier = "".join(f"[{start + i}] {s}\n" for i, s in enumerate(context))
    if earlier:
        earlier = f"Earlier sentences (context only, do not label them):\n{earlier}\n"
    lines = "\n".join(f"[{first_number + i}] {s}" for i, s in enumerate(sentences))
    last = first_number + len(sentences) - 1
    return (
        f"Problem:\n{problem}\n\n{earlier}Sentences to label:\n{lines}\n\n"
        f"Label sentences {first_number} to {last}, and only those."
    )


def messages(
    problem: str, sentences: Sequence[str], first_number: int = 1, context: Sequence[str] = ()
) -> list[dict[str, str]]:
    """Chat messages for one request."""
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": user_message(problem, sentences, first_number, context)},
    ]


def reply_schema(first_number: int, n: int) -> dict[str, Any]:
    """JSON schema of the one valid reply to a request for sentences ``first_number…``: sent as
    ``response_format`` to servers that constrain their output to it."""
    numbers = [str(first_number + i) for i in range(n)]
    category = {"type": "string", "enum": list(CATEGORIES)}
    labels = {
        "type": "object",
        "properties": {number: category for number in numbers},
        "required": numbers,
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {"labels": labels},
        "required": ["labels"],
        "additionalProperties": False,
    }


MAX_QUOTED_REPLY = 4000
"""Characters of a malformed reply quoted back to the judge in a repair turn."""


def repair_turn(reply: str, error: str, first_number: int, n: int) -> list[dict[str, str]]:
    """Messages appended to a request whose ``reply`` was malformed: the reply itself, then what
    was wrong with it and what is wanted, so that a retry (even at temperature 0) differs."""
    last = first_number + n - 1
    return [
        {"role": "assistant", "content": reply[:MAX_QUOTED_REPLY]},
        {
            "role": "user",
            "content": (
                f"That reply could not be used: {error}. Reply again with only one JSON object "
                f'{{"labels": {{"{first_number}": "<category>", ...}}}} that gives every one of '
                f"sentences {first_number} to {last} exactly one of the categories "
                f"{', '.join(CATEGORIES)}, and nothing else."
            ),
        },
    ]


class MalformedReply(ValueError):
    """The judge's reply is not the requested JSON (the message says how)."""


def parse_reply(content: str, first_number: int, n: int) -> list[str]:
    """The ``n`` categories of sentences ``first_number…`` from a reply, or :class:`MalformedReply`."""
    text = content.strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1)
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as err:
        raise MalformedReply(f"not JSON ({err.msg})") from err
    if not isinstance(obj, dict) or not isinstance(obj.get("labels"), dict):
        raise MalformedReply('not an object with a "labels" object')
    labels = obj["labels"]
    wanted = [str(first_number + i) for i in range(n)]
    if sorted(labels, key=_as_int) != wanted:
        raise MalformedReply(
            f"labels numbered {sorted(labels, key=_as_int)[:5]}…, expected {first_number}…{first_number + n - 1}"
        )
    out = []
    for key in wanted:
        value = labels[key]
        category = normalize_category(value) if isinstance(value, str) else None
        if category is None:
            raise MalformedReply(f"sentence {key}: {value!r} is not one of the six categories")
        out.append(category)
    return out


def _as_int(key: str) -> int:
    try:
        return int(key)
    except ValueError:
        return -1
