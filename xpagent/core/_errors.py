"""The core's exceptions. The tree (every one is a `ValueError`, so a caller that
only knows "the value was wrong" still catches them):

```
CoreError                 anything the core refuses
├── CodecError            JSON bytes or data from outside that are not what they claim
│   (raised by `parse_json`, `decode_json`, `from_json_value`)
├── StateFileError        a state file that cannot be used (`decode_state`)
└── TransitionError       an input the state machine does not accept in its state:
                          probing a disabled component, a second restart in flight,
                          the end of a restart that was never requested
```

`CodecError` and `StateFileError` are about data from outside: the shell turns
them into its own errors or a fresh start. `TransitionError` is a bug in the
caller (the shell asked for something the rules forbid) and is not meant to be
caught.
"""

from __future__ import annotations

__all__ = ["CoreError", "TransitionError"]


class CoreError(ValueError):
    """The root of the core's exceptions."""


class TransitionError(CoreError):
    """An input the state machine refuses in the current state; the message says why."""
