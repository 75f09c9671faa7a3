"""Exception groups, unwrapped: what a nursery's (possibly nested) groups hold.

trio wraps whatever its nurseries' tasks raise in `ExceptionGroup`s, nested one level
per nursery; a message for a person is about the leaves.
"""

from __future__ import annotations

__all__ = ["first_leaf", "leaves"]


def leaves(error: BaseException) -> list[BaseException]:
    """The exceptions inside `error`'s (possibly nested) groups, in order; `[error]`
    when it is not a group."""
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in leaves(inner)]
    return [error]


def first_leaf(error: BaseException) -> BaseException:
    """The first exception inside (possibly nested) exception groups."""
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error
