"""Frozen config dataclasses as the Python API, the TOML file and the command line at once.

Each field becomes ``--field-name``, its attribute docstring (the string literal right under the
field) becomes the ``--help`` text, and the parsed namespace is turned back into the dataclass,
whose ``__post_init__`` validates it (:func:`add_config_arguments`, :func:`config_from_args`). A
TOML file's keys are the field names (:func:`load_config`, :func:`config_from_dict`); a config is
saved as JSON (:func:`config_to_dict`) and turned back into the options that rebuild it
(:func:`to_argv`), so a program that drives the CLI never types a flag by hand.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import dataclasses
import inspect
import itertools
import textwrap
import types
import typing
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar, get_args, get_origin

import tomllib

from activation_store.core.errors import InputError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T")
C = TypeVar("C", bound="DataclassInstance")


class ConfigError(InputError, ValueError):
    """A config field has an invalid value."""


def need(ok: bool, message: str) -> None:
    """Raise :class:`ConfigError` with ``message`` unless ``ok`` (for ``__post_init__`` checks)."""
    if not ok:
        raise ConfigError(message)


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


class _ExplicitNone:
    """``none`` given on the command line, told apart from an option not given (whose value a
    TOML file may supply); the config receives None."""

    def __repr__(self) -> str:
        return "none"


EXPLICIT_NONE: Any = _ExplicitNone()


def _none_to_none(value: Any) -> Any:
    return None if value is EXPLICIT_NONE else value


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
            help_text += f" (default: {_show(default)})".replace("%", "%%")
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
            # choices of a list (tuple[Literal[...], ...]) are checked by the config itself
            kwargs["type"] = _parse_list(str if get_origin(item) is Literal else item)
        elif tp in (int, float, str):
            kwargs["type"] = tp
        else:
            kwargs["type"] = str
        if optional and "type" in kwargs:  # "none" means None (e.g. --sae none skips the SAE)
            inner = kwargs["type"]
            kwargs["type"] = lambda s, _inner=inner: (
                EXPLICIT_NONE if s.lower() == "none" else _inner(s)
            )
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
    if isinstance(value, str) and ("\n" in value or "\t" in value):
        return repr(value)  # help text would print a newline as a space: show it escaped
    return str(value)


def config_from_args(cls: type[T], args: argparse.Namespace, **overrides: Any) -> T:
    """Build the dataclass ``cls`` from parsed arguments (its ``__post_init__`` validates)."""
    values = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(cls)  # type: ignore[arg-type]
        if f.init and hasattr(args, f.name)
    }
    values.update(overrides)
    return cls(**{k: _none_to_none(v) for k, v in values.items()})


def load_config(cls: type[C], path: str | Path | None = None, **overrides: Any) -> C:
    """``cls`` from a TOML file (keys = field names; lists for tuples) and keyword overrides."""
    values: dict[str, Any] = {}
    if path is not None:
        try:
            values = tomllib.loads(Path(path).read_text())
        except OSError as err:
            raise InputError(f"cannot read config {str(path)!r}: {err.strerror}") from err
        except tomllib.TOMLDecodeError as err:
            raise InputError(f"config {str(path)!r} is not valid TOML: {err}") from err
    # None: not given (the file's value stands); EXPLICIT_NONE: "none" given, which wins
    values.update({k: _none_to_none(v) for k, v in overrides.items() if v is not None})
    return config_from_dict(cls, values, where=str(path or "arguments"))


def config_from_dict(cls: type[C], values: dict[str, Any], *, where: str = "config") -> C:
    """Build ``cls`` from plain values (lists become tuples); unknown keys are an error."""
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - fields)
    if unknown:
        raise ConfigError(
            f"{where}: unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(fields))}"
        )
    hints = typing.get_type_hints(cls)
    clean: dict[str, Any] = {}
    for key, value in values.items():
        tp, _ = _unwrap_optional(hints[key])
        if isinstance(value, list):
            value = tuple(value)
        elif get_origin(tp) is tuple and isinstance(value, str):
            value = tuple(v.strip() for v in value.split(",") if v.strip())
        clean[key] = _checked(value, hints[key], f"{where}: {key}")
    try:
        return cls(**clean)
    except ConfigError:
        raise
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{where}: {' '.join(str(err).split())}") from err


_TYPE_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}


def _checked(value: Any, tp: Any, what: str) -> Any:
    """``value`` as a value of type ``tp`` (ints become floats where a float is wanted; strings
    of digits are taken for numbers, as on the command line), else :class:`ConfigError` naming
    the field and the expected type."""
    inner, optional = _unwrap_optional(tp)
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{what} is missing a value; give {_describe(inner)}")
    origin = get_origin(inner)
    if origin is tuple:
        item = get_args(inner)[0] if get_args(inner) else Any
        if not isinstance(value, tuple):
            value = (value,)
        return tuple(_checked(v, item, f"{what}[{i}]") for i, v in enumerate(value))
    if origin is Literal:
        if value not in get_args(inner):
            choices = ", ".join(repr(c) for c in get_args(inner))
            raise ConfigError(f"{what} is {value!r}; choose one of {choices}")
        return value
    if inner in (int, float) and isinstance(value, str):
        with contextlib.suppress(ValueError):  # not a number: refused below, by type
            value = inner(value)
    if inner is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if inner in _TYPE_NAMES and (
        not isinstance(value, inner) or (inner is not bool and isinstance(value, bool))
    ):
        raise ConfigError(f"{what} is {value!r}; expected {_describe(tp)}")
    return value


def _describe(tp: Any) -> str:
    inner, optional = _unwrap_optional(tp)
    if get_origin(inner) is tuple:
        item = get_args(inner)[0] if get_args(inner) else Any
        text = f"a list of {_describe(item).removeprefix('a ').removeprefix('an ')}s"
    elif get_origin(inner) is Literal:
        text = "one of " + ", ".join(repr(c) for c in get_args(inner))
    else:
        text = _TYPE_NAMES.get(inner, getattr(inner, "__name__", str(inner)))
    return text + (" or none" if optional else "")


def config_to_dict(config: DataclassInstance) -> dict[str, Any]:
    """JSON-ready dict of every field (tuples as lists)."""
    return {
        k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(config).items()
    }


def to_argv(config: DataclassInstance, *, skip: Sequence[str] = ()) -> list[str]:
    """The options that :func:`add_config_arguments` parses back into ``config``.

    Only fields that differ from the class default are written (a field without a default always
    is); booleans as ``--flag`` / ``--no-flag``, tuples comma-joined, None as ``none``. A value
    starting with ``-`` is attached with ``=`` so argparse does not read it as an option.
    """
    argv: list[str] = []
    for field in dataclasses.fields(config):
        if field.name in skip or not field.init:
            continue
        value = getattr(config, field.name)
        has_default = not (
            field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
        )
        if has_default and value == _default(field):
            continue
        flag = "--" + field.name.replace("_", "-")
        if isinstance(value, bool):
            argv.append(flag if value else "--no-" + flag[2:])
            continue
        if isinstance(value, (tuple, list)):
            if any("," in str(v) for v in value):
                raise ConfigError(f"{field.name}: {value!r} has a comma inside a value")
            text = ",".join(str(v) for v in value)
        else:
            text = "none" if value is None else str(value)
        argv += [f"{flag}={text}"] if text.startswith("-") or not text else [flag, text]
    return argv
