"""Solution steps as structured data: an operation, its operands, its value, and how to say it.

Every built-in problem carries its ground-truth solution as a tuple of :class:`Step`. A step can be
re-rendered with another value (``step.render(wrong)``) and checked by the solver
(``step.is_correct(value)``), so synthetic traces with deliberate, verifiable errors can be built
from the same problems the model is asked about. ``refs`` link an operand to the earlier step that
produced it, so an error can be propagated through the rest of the solution
(:func:`propagate_error`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

Value = int | str
"""A step's value: an integer, or a word such as "even", "true", "yes", or a fraction "3/8"."""


def _int(x: Value) -> int:
    if isinstance(x, bool) or not isinstance(x, int):
        raise TypeError(f"expected an integer operand, got {x!r}")
    return x


def _bool(x: Value) -> bool:
    if x not in ("true", "false"):
        raise TypeError(f"expected 'true' or 'false', got {x!r}")
    return x == "true"


def _word(b: bool) -> str:
    return "true" if b else "false"


def _exact_div(a: Value, b: Value) -> int:
    q, r = divmod(_int(a), _int(b))
    if r:
        raise ValueError(f"{a} is not divisible by {b}")
    return q


def _fraction(a: Value, b: Value) -> str:
    num, den = _int(a), _int(b)
    g = math.gcd(num, den) or 1
    return f"{num // g}/{den // g}"


OPS: Mapping[str, Callable[..., Value]] = {
    "add": lambda *xs: sum(_int(x) for x in xs),
    "sub": lambda a, b: _int(a) - _int(b),
    "mul": lambda a, b: _int(a) * _int(b),
    "div": _exact_div,
    "mod": lambda a, b: _int(a) % _int(b),
    "carry": lambda a: _int(a) // 10,
    "join_tens": lambda tens, ones: _int(tens) * 10 + _int(ones) % 10,
    "max": lambda *xs: max(_int(x) for x in xs),
    "min": lambda *xs: min(_int(x) for x in xs),
    "parity": lambda a: "even" if _int(a) % 2 == 0 else "odd",
    "count": lambda text, item: str(text).count(str(item)),
    "count_words": lambda text: len(str(text).split()),
    "fraction": _fraction,
    "not": lambda a: _word(not _bool(a)),
    "and": lambda a, b: _word(_bool(a) and _bool(b)),
    "or": lambda a, b: _word(_bool(a) or _bool(b)),
    "yesno": lambda a: "yes" if _bool(a) else "no",
    "same": lambda a: a,
}
"""The solver: operation name → function of the operands. ``add`` takes any number of operands."""


def solve(op: str, operands: Sequence[Value]) -> Value:
    """The correct value of ``op`` applied to ``operands`` (raises ``KeyError`` for unknown ops)."""
    if op not in OPS:
        raise KeyError(f"unknown step op {op!r}; known: {', '.join(sorted(OPS))}")
    return OPS[op](*operands)


@dataclass(frozen=True, kw_only=True)
class Step:
    """One step of a worked solution, e.g. ``Step(op="add", operands=(7, 8), value=15, ...)``."""

    op: str
    """Operation name in :data:`OPS` that computes ``value`` from ``operands``."""
    operands: tuple[Value, ...]
    """Inputs of the operation (numbers from the prompt or values of earlier steps)."""
    value: Value
    """The correct result, as the solver computes it."""
    template: str
    """``str.format`` template of the step's sentence: ``{0}``, ``{1}``… are operands, ``{value}``
    the result, e.g. "Add the ones: {0} + {1} = {value}."."""
    refs: tuple[int | None, ...] = field(default=())
    """For each operand, the index of the earlier step whose value it is (``None``: from the
    prompt). Empty means all operands come from the prompt."""

    def __post_init__(self) -> None:
        if self.refs and len(self.refs) != len(self.operands):
            raise ValueError(
                f"step {self.op!r}: refs has {len(self.refs)} entries for "
                f"{len(self.operands)} operands; give one per operand (None for prompt values)"
            )

    @property
    def text(self) -> str:
        """The step's sentence with its correct value."""
        return self.render()

    def render(self, value: Value | None = None) -> str:
        """The step's sentence, stating ``value`` (default: the correct one) as the result."""
        shown = self.value if value is None else value
        return self.template.format(*self.operands, value=shown)

    def expected(self) -> Value:
        """What the solver computes from this step's operands."""
        return solve(self.op, self.operands)

    def is_correct(self, value: Value | None = None) -> bool:
        """Whether ``value`` (default: the stored value) is what the solver computes."""
        return (self.value if value is None else value) == self.expected()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "op": self.op,
            "operands": list(self.operands),
            "value": self.value,
            "template": self.template,
        }
        if self.refs:
            out["refs"] = list(self.refs)
        return out

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Step:
        return cls(
            op=obj["op"],
            operands=tuple(obj["operands"]),
            value=obj["value"],
            template=obj["template"],
            refs=tuple(obj.get("refs", ())),
        )


def step(
    op: str, operands: Sequence[Value], template: str, refs: Sequence[int | None] = ()
) -> Step:
    """A :class:`Step` whose value is computed by the solver (how the built-in families build)."""
    ops = tuple(operands)
    return Step(op=op, operands=ops, value=solve(op, ops), template=template, refs=tuple(refs))


def propagate_error(steps: Sequence[Step], index: int, value: Value) -> tuple[Step, ...]:
    """The solution as it continues after step ``index`` states ``value`` instead of its result.

    Later steps that use step ``index`` (directly or through other steps, via ``refs``) are
    recomputed from the wrong value, as a solver that trusted the error would; steps whose
    operation cannot take the wrong value (e.g. an exact division that no longer divides) keep
    their operands but get the value ``"?"``. Step ``index`` itself keeps its operands, so
    ``out[index].is_correct()`` is ``False`` exactly when ``value`` is wrong.
    """
    if not 0 <= index < len(steps):
        raise IndexError(f"step index {index} is outside 0..{len(steps) - 1}")
    out = list(steps)
    out[index] = replace(steps[index], value=value)
    for i in range(index + 1, len(steps)):
        s = steps[i]
        if not s.refs or all(r is None for r in s.refs):
            continue
        operands = tuple(
            out[r].value if r is not None else x for x, r in zip(s.operands, s.refs, strict=True)
        )
        if operands == s.operands:
            continue
        try:
            new_value = solve(s.op, operands)
        except (TypeError, ValueError, StopIteration):
            new_value = "?"
        out[i] = replace(s, operands=operands, value=new_value)
    return tuple(out)
