"""The node daemon: configuration, probes, restarters, supervisors, the recorder,
the hub and the state file on disk — the I/O shell around `xpagent.core`."""

from ._state_store import (
    STATE_FILE_NAME,
    LoadedState,
    StateStoreError,
    keep_aside,
    load_state,
    write_state,
)

__all__ = [
    "STATE_FILE_NAME",
    "LoadedState",
    "StateStoreError",
    "keep_aside",
    "load_state",
    "write_state",
]
