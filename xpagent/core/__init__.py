"""The runtime core: pure state transitions with no I/O.

Nothing here imports trio, quart, httpx or reads the clock: every function takes
`now` and returns new frozen values plus what happened (events). The daemon
applies these decisions, publishes the events and writes the state file.

Public surface:

- models: `Component`, `ComponentStatus`, `Summary`, `ComponentState`, `Slot`,
  `Event`, `EventKind`, `EventLevel`, `ProbeResult`, `RestartResult`;
- `NodeRuntime` with its transitions (`started`, `probed`, `restart_requested`,
  `restart_finished`, `advanced`, `stopped`), each returning an `Update`, and
  `ticked`, returning the runtime alone;
- the tracker (`observe`), the restart policy (`RestartPolicy`, `restart_due`,
  `next_restart_at`), the summary rules (`summarize`), the history (`History`),
  the event log (`EventLog`), the clock rules (`CLOCK_STEP_TOLERANCE`, see
  `NodeRuntime`);
- the state file codec (`encode_state`, `decode_state`, `restore`) and the
  `WriteSchedule` that says when to write it;
- the API bodies (`RuntimeItem`, `RuntimeDetail`, `RuntimeList` and their
  builders), the JSON converter (`to_json_value`, `from_json_value`), the one
  parser of JSON from outside (`parse_json`, `decode_json`, raising `CodecError`
  only) and time format.
"""

from ._codec import (
    MAX_JSON_INT,
    CodecError,
    decode_json,
    from_json_value,
    parse_json,
    to_json_value,
)
from ._event_log import EVENT_RETENTION, MAX_EVENTS, EventLog
from ._history import MAX_OBSERVATION_GAP, WINDOW_SLOTS, History, Observation, window_start_of
from ._models import (
    COMPONENTS,
    SLOT_LENGTH,
    SLOT_SECS,
    SUPERVISED,
    Component,
    ComponentState,
    ComponentStatus,
    Event,
    EventKind,
    EventLevel,
    ProbeResult,
    RestartResult,
    Slot,
    Summary,
    slot_start_of,
)
from ._restart_policy import (
    RestartPolicy,
    begin_restart,
    finish_restart,
    next_restart_at,
    restart_due,
)
from ._runtime import CLOCK_STEP_TOLERANCE, NodeRuntime, PreviousRun, Snapshot, Update
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
from ._tracker import observe
from ._views import (
    RuntimeDetail,
    RuntimeItem,
    RuntimeList,
    aligned_slots,
    runtime_detail,
    runtime_item,
    unreachable_item,
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
    "CodecError",
    "Component",
    "ComponentState",
    "ComponentStatus",
    "Event",
    "EventKind",
    "EventLevel",
    "EventLog",
    "History",
    "NodeRuntime",
    "Observation",
    "PreviousRun",
    "ProbeResult",
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
    "next_restart_at",
    "observe",
    "parse_json",
    "parse_time",
    "restart_due",
    "restore",
    "runtime_detail",
    "runtime_item",
    "slot_start_of",
    "spoken_duration",
    "summarize",
    "to_json_value",
    "unreachable_item",
    "window_start_of",
    "worse_status",
    "worse_summary",
]
