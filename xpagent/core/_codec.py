"""The one cattrs converter between core values and the contract's JSON.

Strict where our own data is concerned (an int must be an int, a string a
string) and lenient where a newer node may say more than we know: unknown enum
values are read as `unknown`, unknown fields are ignored, and fields this version
added are optional on input.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any, TypeVar

import cattrs

from ._models import Component, ComponentStatus, EventKind, EventLevel, Summary
from ._time import format_time, parse_time

__all__ = ["CodecError", "from_json_value", "to_json_value"]

T = TypeVar("T")


class CodecError(ValueError):
    """A JSON value does not have the shape of the model asked for.

    The message lists the first few problems with their JSON paths.
    """


def _structure_strict(kind: type[Any]) -> Any:
    def structure(value: Any, _: type[Any]) -> Any:
        # bool is an int subclass, and cattrs' default would call int("7") or str(7).
        if type(value) is not kind:
            raise TypeError(f"expected {kind.__name__}, got {type(value).__name__}")
        return value

    return structure


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
for _kind in (int, str, bool):
    _converter.register_structure_hook(_kind, _structure_strict(_kind))
for _enum in (Component, ComponentStatus, Summary, EventKind, EventLevel):
    _converter.register_structure_hook(_enum, _structure_lenient_enum)
    _converter.register_unstructure_hook(_enum, lambda member: member.value)
_converter.register_structure_hook(datetime, _structure_time)
_converter.register_unstructure_hook(datetime, format_time)
_converter.register_unstructure_hook(
    tuple, lambda items: [_converter.unstructure(i) for i in items]
)


def _omit_error_when_none() -> None:
    # An item carries `error` only when its node could not be reached.
    from cattrs.gen import make_dict_unstructure_fn, override

    from ._views import RuntimeItem

    _converter.register_unstructure_hook(
        RuntimeItem,
        make_dict_unstructure_fn(RuntimeItem, _converter, error=override(omit_if_default=True)),
    )


_omit_error_when_none()


def to_json_value(value: object) -> Any:
    """`value` (a model, or a list of models) as plain JSON data."""
    return _converter.unstructure(value)


def from_json_value(data: Any, kind: type[T]) -> T:
    """Plain JSON data as a `kind`; raises CodecError naming what is wrong and where."""
    try:
        return _converter.structure(data, kind)
    except cattrs.BaseValidationError as exc:
        problems = cattrs.transform_error(exc)
        raise CodecError("; ".join(problems[:3])) from None
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise CodecError(str(exc)) from None
