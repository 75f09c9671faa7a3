"""The runtime core: pure state transitions with no I/O.

Nothing here imports trio, quart, httpx or reads the clock: every function takes
`now` and returns new frozen values plus what happened (events). The daemon
applies these decisions, publishes the events and writes the state file.

Public surface:

- models: `Component`, `ComponentStatus`, `Summary`, `ComponentState`, `Slot`,
  `Event`, `EventKind`, `EventLevel`, `ProbeResult`, `Recovery`, `RestartResult`, and
  `ByComponent`, the immutable mapping per-component data is kept in
  (`SUPERVISED` and `COMPONENTS` list the components);
- the state machine (`_machine`): `NodeRuntime` with its inputs (`started`,
  `advanced`, `probed`, `restart_requested`, `restart_finished`, `stopped`),
  each returning an `Update`; the component steps they are made of (`observe`,
  `begin_restart`, `finish_restart`, `reconciled`); event ids from an
  `EventIds` source (`new_event_id` by default); the clock rules
  (`CLOCK_STEP_TOLERANCE`);
- the restart policy's decisions (`RestartPolicy`, `restart_due`,
  `next_restart_at`), the summary rules (`summarize`), the history (`History`),
  the event log (`EventLog`);
- the state file codec (`encode_state`, `decode_state`, `restore`) and the
  `WriteSchedule` that says when to write it;
- the API bodies (`RuntimeItem`, `RuntimeDetail`, `RuntimeList` and their
  builders), the JSON converter (`to_json_value`, `from_json_value`), the one
  parser of JSON from outside (`parse_json`, `decode_json`) and time format.

Exceptions (all `ValueError`s; see `_errors`):

```
CoreError                 anything the core refuses
├── CodecError            bytes or JSON data from outside of the wrong shape
├── StateFileError        a state file that cannot be used
└── TransitionError       an input the state machine refuses in its state
```
"""

from ._codec import (
    MAX_JSON_INT,
    CodecError,
    decode_json,
    from_json_value,
    parse_json,
    to_json_value,
)
from ._errors import CoreError, TransitionError
from ._event_log import EVENT_RETENTION, MAX_EVENTS, EventLog
from ._history import MAX_OBSERVATION_GAP, WINDOW_SLOTS, History, Observation, window_start_of
from ._machine import (
    CLOCK_STEP_TOLERANCE,
    NodeRuntime,
    PreviousRun,
    Snapshot,
    Update,
    begin_restart,
    finish_restart,
    observe,
    reconciled,
)
from ._models import (
    COMPONENTS,
    SLOT_LENGTH,
    SLOT_SECS,
    SUPERVISED,
    ByComponent,
    Component,
    ComponentState,
    ComponentStatus,
    Event,
    EventIds,
    EventKind,
    EventLevel,
    ProbeResult,
    Recovery,
    RestartResult,
    Slot,
    Summary,
    new_event_id,
    slot_start_of,
)
from ._restart_policy import RestartPolicy, next_restart_at, restart_due
from ._state_file import (
    SCHEMA_VERSION,
    StateFile,
    StateFileError,
    decode_state,
    encode_state,
    restore,
)
from ._summary import summarize, worse_status, worse_summary
from ._time import format_time, parse_time, spoken_duration
from ._views import (
    RuntimeDetail,
    RuntimeItem,
    RuntimeList,
    aligned_slots,
    runtime_detail,
    runtime_item,
)
from ._write_schedule import MAX_QUIET_WRITE_GAP, MIN_WRITE_GAP, WriteSchedule

__all__ = [
    "CLOCK_STEP_TOLERANCE",
    "COMPONENTS",
    "EVENT_RETENTION",
    "MAX_EVENTS",
    "MAX_JSON_INT",
    "MAX_OBSERVATION_GAP",
    "MAX_QUIET_WRITE_GAP",
    "MIN_WRITE_GAP",
    "SCHEMA_VERSION",
    "SLOT_LENGTH",
    "SLOT_SECS",
    "SUPERVISED",
    "WINDOW_SLOTS",
    "ByComponent",
    "CodecError",
    "Component",
    "ComponentState",
    "ComponentStatus",
    "CoreError",
    "Event",
    "EventIds",
    "EventKind",
    "EventLevel",
    "EventLog",
    "History",
    "NodeRuntime",
    "Observation",
    "PreviousRun",
    "ProbeResult",
    "Recovery",
    "RestartPolicy",
    "RestartResult",
    "RuntimeDetail",
    "RuntimeItem",
    "RuntimeList",
    "Slot",
    "Snapshot",
    "StateFile",
    "StateFileError",
    "Summary",
    "TransitionError",
    "Update",
    "WriteSchedule",
    "aligned_slots",
    "begin_restart",
    "decode_json",
    "decode_state",
    "encode_state",
    "finish_restart",
    "format_time",
    "from_json_value",
    "new_event_id",
    "next_restart_at",
    "observe",
    "parse_json",
    "parse_time",
    "reconciled",
    "restart_due",
    "restore",
    "runtime_detail",
    "runtime_item",
    "slot_start_of",
    "spoken_duration",
    "summarize",
    "to_json_value",
    "window_start_of",
    "worse_status",
    "worse_summary",
]
