"""Turn a frozen config dataclass into argparse options and back.

The same dataclass is the Python API and the CLI: each field becomes ``--field-name``, its attribute
docstring (the string literal right under the field) becomes the ``--help`` text, and the parsed
namespace is turned back into the dataclass, whose ``__post_init__`` validates it.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import itertools
import textwrap
import types
import typing
from collections.abc import Sequence
from functools import cache
from typing import Any, Literal, TypeVar, get_args, get_origin

T = TypeVar("T")


@cache
def field_docs(cls: type) -> dict[str, str]:
    """Attribute docstrings of a dataclass: ``{field: text}``, read from its source."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            source = textwrap.dedent(inspect.getsource(klass))
        except (OSError, TypeError):
            continue
        body = ast.parse(source).body[0]
        assert isinstance(body, ast.ClassDef)
        statements = body.body
        for stmt, nxt in itertools.pairwise(statements):
            if (
                isinstance(stmt, ast.AnnAssign)
                and isinstance(stmt.target, ast.Name)
                and isinstance(nxt, ast.Expr)
                and isinstance(nxt.value, ast.Constant)
                and isinstance(nxt.value.value, str)
            ):
                docs[stmt.target.id] = " ".join(nxt.value.value.split())
    return docs


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    origin = get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(get_args(tp)) == 2:
            return args[0], True
    return tp, False


def _parse_list(item_type: type) -> Any:
    def parse(text: str) -> tuple[Any, ...]:
        parts = [p.strip() for p in text.split(",") if p.strip()]
        return tuple(item_type(p) for p in parts)

    parse.__name__ = f"comma-separated {item_type.__name__}"
    return parse


def add_config_arguments(
    parser: argparse.ArgumentParser, cls: type, *, skip: Sequence[str] = ()
) -> None:
    """Add one ``--option`` per field of the dataclass ``cls`` to ``parser``."""
    hints = typing.get_type_hints(cls)
    docs = field_docs(cls)
    for field in dataclasses.fields(cls):
        if field.name in skip or not field.init:
            continue
        tp, optional = _unwrap_optional(hints[field.name])
        flag = "--" + field.name.replace("_", "-")
        required = (
            field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
        )
        default = None if required else _default(field)
        help_text = docs.get(field.name, "").replace("%", "%%")  # argparse formats help with %
        if not required:
            help_text += f" (default: {_show(default)})"
        kwargs: dict[str, Any] = {"dest": field.name, "help": help_text, "required": required}
        origin = get_origin(tp)
        if tp is bool:
            parser.add_argument(
                flag, action=argparse.BooleanOptionalAction, default=default, **_no_req(kwargs)
            )
            continue
        if origin is Literal:
            kwargs["choices"] = list(get_args(tp))
            kwargs["type"] = type(get_args(tp)[0])
        elif origin in (tuple, list):
            item = get_args(tp)[0] if get_args(tp) else str
            kwargs["type"] = _parse_list(item)
        elif tp in (int, float, str):
            kwargs["type"] = tp
        else:
            kwargs["type"] = str
        if optional and "type" in kwargs and kwargs["type"] is not str:
            inner = kwargs["type"]
            kwargs["type"] = lambda s, _inner=inner: None if s.lower() == "none" else _inner(s)
        parser.add_argument(flag, default=default, **kwargs)


def _no_req(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in kwargs.items() if k != "required"}


def _default(field: dataclasses.Field[Any]) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    return field.default_factory()  # type: ignore[misc,operator]


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value) or "none"
    return str(value)


def config_from_args(cls: type[T], args: argparse.Namespace, **overrides: Any) -> T:
    """Build the dataclass ``cls`` from parsed arguments (its ``__post_init__`` validates)."""
    values = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(cls)  # type: ignore[arg-type]
        if f.init and hasattr(args, f.name)
    }
    values.update(overrides)
    return cls(**values)
