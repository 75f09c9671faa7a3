"""The one cattrs converter between core values and the contract's JSON, and the one
place where JSON bytes from outside (the state file, another node) are parsed.

Strict where our own data is concerned (an int must be an int within what a
browser's JSON parser keeps exactly, a string a string) and lenient where a newer
node may say more than we know: unknown enum values are read as `unknown`,
unknown fields are ignored, and fields this version added are optional on input.
Per-component values (`ByComponent`) travel as the contract's flat keys, named
after their component (`_flatten_component_keys`).

Errors: `CodecError` (a `ValueError`) and nothing else, whatever the input —
bytes that are not JSON (including what CPython's parser refuses with other
exceptions: integers of more than 4300 digits, nesting deeper than its recursion
limit) or JSON of the wrong shape. Callers turn it into their own error.
"""

from __future__ import annotations

import enum
import json
import typing
from datetime import datetime
from typing import Any, TypeVar

import cattrs
import cattrs.v

from ._errors import CoreError
from ._models import (
    COMPONENTS,
    ByComponent,
    Component,
    ComponentState,
    ComponentStatus,
    EventKind,
    EventLevel,
    Slot,
    Summary,
)
from ._time import format_time, parse_time

__all__ = [
    "MAX_JSON_INT",
    "CodecError",
    "decode_json",
    "from_json_value",
    "parse_json",
    "to_json_value",
]

T = TypeVar("T")

#: The largest integer a JavaScript JSON parser reads exactly (2**53 - 1): no counter
#: of the contract comes near it, and a larger one would reach the web UI altered.
MAX_JSON_INT = 2**53 - 1
_MAX_DETAIL_CHARS = 100


class CodecError(CoreError):
    """Bytes are not JSON, or a JSON value does not have the shape of the model asked for.

    The message says why in a few words; for a wrong shape it lists the first few
    problems with their JSON paths.
    """


def _structure_strict(kind: type[Any]) -> Any:
    def structure(value: Any, _: type[Any]) -> Any:
        # bool is an int subclass, and cattrs' default would call int("7") or str(7).
        if type(value) is not kind:
            raise TypeError(f"expected {kind.__name__}, got {type(value).__name__}")
        return value

    return structure


class _OutOfRange(ValueError):
    """A value of the right type that no contract field can hold (its message says so)."""


def _structure_int(value: Any, _: type[int]) -> int:
    if type(value) is not int:
        raise TypeError(f"expected int, got {type(value).__name__}")
    if not -MAX_JSON_INT <= value <= MAX_JSON_INT:
        raise _OutOfRange("integer out of range (beyond 2**53 - 1)")
    return value


def _format_problem(exc: BaseException, kind: type | None) -> str:
    if isinstance(exc, _OutOfRange):
        return str(exc)
    return cattrs.v.format_exception(exc, kind)


def _structure_lenient_enum(value: Any, kind: type[enum.StrEnum]) -> enum.StrEnum:
    try:
        return kind(value)
    except ValueError:
        return kind("unknown")


def _structure_time(value: Any, _: type[datetime]) -> datetime:
    if not isinstance(value, str):
        raise TypeError(f"expected an RFC 3339 string, got {type(value).__name__}")
    return parse_time(value)


_converter = cattrs.Converter()
_converter.register_structure_hook(int, _structure_int)
for _kind in (str, bool):
    _converter.register_structure_hook(_kind, _structure_strict(_kind))
for _enum in (Component, ComponentStatus, Summary, EventKind, EventLevel):
    _converter.register_structure_hook(_enum, _structure_lenient_enum)
    _converter.register_unstructure_hook(_enum, lambda member: member.value)
_converter.register_structure_hook(datetime, _structure_time)
_converter.register_unstructure_hook(datetime, format_time)
_converter.register_unstructure_hook(
    tuple, lambda items: [_converter.unstructure(i) for i in items]
)


def _flatten_component_keys() -> None:
    """A slot's `statuses` travel as the contract's flat keys (`"xray": "up"`), in
    `COMPONENTS` order where the field stands. A key missing on input is `unknown`;
    a value this version does not know is read as `unknown`, like any enum."""
    from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn

    field = "statuses"
    names = tuple(component.value for component in COMPONENTS)

    def unstructure(slot: Slot) -> dict[str, Any]:
        flat: dict[str, Any] = {}
        for key, value in unstructure_slot(slot).items():
            if key == field:
                flat.update(value)
            else:
                flat[key] = value
        return flat

    def structure(data: Any, kind: type[Slot]) -> Slot:
        if not isinstance(data, dict):
            raise TypeError(f"expected an object, got {type(data).__name__}")
        rest = {key: value for key, value in data.items() if key not in names and key != field}
        rest[field] = {name: data[name] for name in names if name in data}
        return structure_slot(rest, kind)

    def structure_by_component(data: dict[str, Any], kind: Any) -> ByComponent[Any]:
        (value_kind,) = typing.get_args(kind)
        return ByComponent(
            (Component(name), _converter.structure(value, value_kind))
            for name, value in data.items()
        )

    def unstructure_by_component(mapping: ByComponent[Any]) -> dict[str, Any]:
        return {str(key): _converter.unstructure(value) for key, value in mapping.items()}

    _converter.register_unstructure_hook(ByComponent, unstructure_by_component)

    def is_by_component(kind: Any) -> bool:
        origin: object = typing.get_origin(kind)
        return origin is ByComponent

    _converter.register_structure_hook_func(is_by_component, structure_by_component)
    # Made after the ByComponent hooks, which they use for `statuses`.
    unstructure_slot = make_dict_unstructure_fn(Slot, _converter)
    structure_slot = make_dict_structure_fn(Slot, _converter)
    _converter.register_unstructure_hook(Slot, unstructure)
    _converter.register_structure_hook(Slot, structure)


_flatten_component_keys()


def _omit_when_none() -> None:
    # An item carries `error` and `error_kind` only when its node could not be reached, a component
    # `recovering` only while it recovers: absent means none, for readers old and new.
    from cattrs.gen import make_dict_unstructure_fn, override

    from ._views import RuntimeItem

    _converter.register_unstructure_hook(
        RuntimeItem,
        make_dict_unstructure_fn(
            RuntimeItem,
            _converter,
            error=override(omit_if_default=True),
            error_kind=override(omit_if_default=True),
        ),
    )
    _converter.register_unstructure_hook(
        ComponentState,
        make_dict_unstructure_fn(
            ComponentState, _converter, recovering=override(omit_if_default=True)
        ),
    )


_omit_when_none()


def to_json_value(value: object) -> Any:
    """`value` (a model, or a list of models) as plain JSON data."""
    return _converter.unstructure(value)


def _failure(exc: Exception) -> str:
    """A parser's exception in a few words: its class, and its message's first clause."""
    if isinstance(exc, json.JSONDecodeError | UnicodeDecodeError):
        return exc.__class__.__name__  # the position adds nothing an operator can use
    detail = " ".join(str(exc).split(":")[0].split())
    if len(detail) > _MAX_DETAIL_CHARS:
        detail = detail[: _MAX_DETAIL_CHARS - 1] + "…"
    return f"{exc.__class__.__name__}: {detail}" if detail else exc.__class__.__name__


def parse_json(data: bytes | str) -> Any:
    """JSON bytes (UTF-8, -16 or -32) or text from outside as plain data.

    Raises CodecError, and only that, for anything that is not JSON — whatever
    exception the parser chose (a 5000-digit integer is a plain ValueError, deep
    nesting a RecursionError). Its message is short: `JSONDecodeError`,
    `ValueError: Exceeds the limit (4300 digits) for integer string conversion`.
    """
    try:
        return json.loads(data)
    except Exception as exc:  # foreign bytes: any failure of the parser means "not JSON"
        raise CodecError(_failure(exc)) from None


def from_json_value(data: Any, kind: type[T]) -> T:
    """Plain JSON data as a `kind`; raises CodecError naming what is wrong and where."""
    try:
        return _converter.structure(data, kind)
    except cattrs.BaseValidationError as exc:
        problems = cattrs.transform_error(exc, format_exception=_format_problem)
        raise CodecError("; ".join(problems[:3])) from None
    except Exception as exc:  # foreign data: whatever a hook raised, the data is wrong
        raise CodecError(_failure(exc)) from None


def decode_json(data: bytes | str, kind: type[T]) -> T:
    """JSON bytes from outside as a `kind`: `parse_json` then `from_json_value`.

    A CodecError from parsing starts with `not JSON`; one from the shape does not.
    """
    try:
        value = parse_json(data)
    except CodecError as exc:
        raise CodecError(f"not JSON ({exc})") from None
    return from_json_value(value, kind)
