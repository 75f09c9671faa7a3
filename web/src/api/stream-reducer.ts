/**
 * The node stream as a pure reducer, `(state, action) → state`: the UI's sans-I/O
 * core. Actions are the contract's SSE frames (hello, snapshot, event, lagged,
 * node_error), what the fetch loop reports about the connection itself, and the
 * periodic re-read of the node's state while the stream is live (`refreshed`).
 */
import { newestCheckedAt } from './freshness';
import type { ComponentState, Hello, Lagged, NodeDetail, NodeError, RuntimeEvent, RuntimeItem, Slot } from './schemas';
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

/**
 * The node's state re-read by GET while the stream is live: the stream sends a
 * snapshot only after an event, so on a quiet node `checked_at`, the failure count
 * and a recovery's progress would otherwise stand still. Its events are not used.
 */
export interface RefreshedAction {
  type: 'refreshed';
  detail: NodeDetail;
}

export type StreamAction = StreamFrame | ConnectionAction | RefreshedAction;

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

function sameComponent(a: ComponentState, b: ComponentState): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function sameSlot(a: Slot, b: Slot): boolean {
  return (
    a.slot_start === b.slot_start &&
    a.summary === b.summary &&
    a.xp === b.xp &&
    a.xray === b.xray &&
    a.cloudflared === b.cloudflared &&
    a.observed_secs === b.observed_secs &&
    a.down_secs === b.down_secs &&
    a.changes === b.changes
  );
}

/** Keeps the current objects where nothing changed, so unchanged cards and bars are not redrawn. */
function shareUnchanged<T>(current: T[], next: T[], same: (a: T, b: T) => boolean): T[] {
  let changed = current.length !== next.length;
  const merged = next.map((item, index) => {
    const old = current[index];
    if (old !== undefined && same(old, item)) return old;
    changed = true;
    return item;
  });
  return changed ? merged : current;
}

/**
 * Folds a re-read state into a live page: its components, slots and summary replace
 * the shown ones (the events stay). Ignored unless live, and when it is older than
 * what is shown (a snapshot overtook the request).
 */
function applyRefresh(state: StreamState, detail: NodeDetail): StreamState {
  const current = state.snapshot;
  if (state.connection !== 'live' || current === null) return state;
  const shownAt = newestCheckedAt(current.components);
  const readAt = newestCheckedAt(detail.components);
  if (shownAt !== null && (readAt === null || readAt < shownAt)) return state;
  const fresh = withoutEvents(detail);
  const components = shareUnchanged(current.components, fresh.components, sameComponent);
  const recent_slots = shareUnchanged(current.recent_slots, fresh.recent_slots, sameSlot);
  if (
    components === current.components &&
    recent_slots === current.recent_slots &&
    fresh.summary === current.summary &&
    fresh.node_name === current.node_name
  )
    return state;
  return { ...state, snapshot: { ...current, ...fresh, components, recent_slots } };
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
    case 'refreshed':
      return applyRefresh(state, action.detail);
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
