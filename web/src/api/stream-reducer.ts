/**
 * The node stream as a pure reducer, `(state, action) → state`: the UI's sans-I/O
 * core. Actions are the contract's SSE frames (hello, snapshot, event, lagged,
 * node_error) and what the fetch loop reports about the connection itself.
 */
import type { Hello, Lagged, NodeDetail, NodeError, RuntimeEvent, RuntimeItem } from './schemas';
import { parseTime } from '../time/format';

/** The timeline keeps the newest this many events, and says so. */
export const EVENTS_CAP = 500;

export type StreamFrame =
  | { type: 'hello'; hello: Hello }
  | { type: 'snapshot'; detail: NodeDetail }
  | { type: 'event'; event: RuntimeEvent }
  | { type: 'lagged'; lagged: Lagged }
  | { type: 'node_error'; nodeError: NodeError };

export type ConnectionAction =
  | { type: 'connecting' }
  | { type: 'disconnected'; reason: string }
  | { type: 'unauthorized' }
  /** The loop gave up for good (e.g. 404): retrying cannot help. */
  | { type: 'failed'; reason: string };

export type StreamAction = StreamFrame | ConnectionAction;

/**
 * `connecting` before the first snapshot, `live` while frames flow, `reconnecting`
 * while our own connection is down, `unreachable` while the proxying node cannot
 * reach the node (its last snapshot stays), `unauthorized`/`failed` when the loop stopped.
 */
export type Connection = 'connecting' | 'live' | 'reconnecting' | 'unreachable' | 'unauthorized' | 'failed';

export interface StreamState {
  connection: Connection;
  /** Why the connection is not live (the node_error text, a network error, …). */
  reason: string | null;
  snapshot: RuntimeItem | null;
  /** Newest first, at most `EVENTS_CAP`, unique by `event_id`. */
  events: RuntimeEvent[];
  /** Set by `lagged` until the snapshot that follows it has been applied. */
  resyncing: boolean;
}

export const initialStreamState: StreamState = {
  connection: 'connecting',
  reason: null,
  snapshot: null,
  events: [],
  resyncing: false,
};

function newestFirst(a: RuntimeEvent, b: RuntimeEvent): number {
  // ISO strings do not sort by time when only some carry milliseconds.
  const byTime = (parseTime(b.occurred_at) ?? 0) - (parseTime(a.occurred_at) ?? 0);
  if (byTime !== 0) return byTime;
  if (a.event_id === b.event_id) return 0;
  return a.event_id < b.event_id ? 1 : -1;
}

/** Merges events into a newest-first list, dropping duplicates, keeping the newest `cap`. */
export function mergeEvents(
  current: readonly RuntimeEvent[],
  incoming: readonly RuntimeEvent[],
  cap = EVENTS_CAP,
): RuntimeEvent[] {
  const seen = new Set(current.map((event) => event.event_id));
  const fresh = incoming.filter((event) => {
    if (seen.has(event.event_id)) return false;
    seen.add(event.event_id);
    return true;
  });
  if (fresh.length === 0) return current as RuntimeEvent[];
  return [...fresh, ...current].sort(newestFirst).slice(0, cap);
}

function withoutEvents(detail: NodeDetail): RuntimeItem {
  const { events: _events, ...item } = detail;
  return item;
}

export function streamReducer(state: StreamState, action: StreamAction): StreamState {
  switch (action.type) {
    case 'hello':
      // Connected to the node we asked; whether *its* node is reachable comes next
      // (a snapshot, or node_error when it relays an unreachable node).
      return state;
    case 'snapshot':
      return {
        connection: 'live',
        reason: null,
        snapshot: withoutEvents(action.detail),
        events: mergeEvents(state.events, action.detail.events),
        resyncing: false,
      };
    case 'event': {
      const events = mergeEvents(state.events, [action.event]);
      return events === state.events ? state : { ...state, events };
    }
    case 'lagged':
      return { ...state, resyncing: true };
    case 'node_error':
      return { ...state, connection: 'unreachable', reason: action.nodeError.error };
    case 'connecting':
      return state.connection === 'connecting' ? state : { ...state, connection: 'reconnecting' };
    case 'disconnected':
      return { ...state, connection: 'reconnecting', reason: action.reason };
    case 'unauthorized':
      return { ...state, connection: 'unauthorized', reason: 'the admin token was refused' };
    case 'failed':
      return { ...state, connection: 'failed', reason: action.reason };
  }
}
