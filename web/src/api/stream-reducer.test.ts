import { describe, expect, it } from 'vitest';
import { MOCK_NOW, makeDetail, makeEvent, makeEvents, makeItem } from '../mocks/builders';
import { nth } from '../test/nth';
import { parseNodeDetail, type RuntimeEvent } from './schemas';
import {
  EVENTS_CAP,
  initialStreamState,
  mergeEvents,
  streamReducer,
  type StreamAction,
  type StreamState,
} from './stream-reducer';

const detail = (events: RuntimeEvent[] = makeEvents(3), xray: 'up' | 'down' = 'up') =>
  parseNodeDetail(JSON.parse(JSON.stringify(makeDetail(makeItem({ id: 'node-a', xray }), events))));

const hello: StreamAction = { type: 'hello', hello: { node_id: 'node-a', connected_at: '2026-11-30T04:53:50Z' } };

function run(actions: StreamAction[], from: StreamState = initialStreamState): StreamState {
  return actions.reduce(streamReducer, from);
}

const ids = (state: StreamState) => state.events.map((event) => event.event_id);

describe('stream reducer', () => {
  it('starts connecting with nothing to show', () => {
    expect(initialStreamState).toMatchObject({ connection: 'connecting', snapshot: null, events: [] });
  });

  it('stays connecting on hello, and is live with the snapshot that follows', () => {
    expect(run([{ type: 'connecting' }, hello]).connection).toBe('connecting');
    const state = run([{ type: 'connecting' }, hello, { type: 'snapshot', detail: detail() }]);
    expect(state.connection).toBe('live');
    expect(state.snapshot?.node_id).toBe('node-a');
    expect(state.snapshot && 'events' in state.snapshot).toBe(false);
    expect(state.events).toHaveLength(3);
  });

  it('puts a new event first and ignores one it already has', () => {
    const live = run([hello, { type: 'snapshot', detail: detail() }]);
    const fresh = makeEvent(99, MOCK_NOW + 1_000);
    const once = streamReducer(live, { type: 'event', event: fresh });
    expect(ids(once)[0]).toBe(fresh.event_id);
    expect(once.events).toHaveLength(4);
    const twice = streamReducer(once, { type: 'event', event: fresh });
    expect(twice).toBe(once);
  });

  it('de-duplicates the events a later snapshot repeats', () => {
    const events = makeEvents(5);
    const state = run([
      { type: 'snapshot', detail: detail(events.slice(2)) },
      { type: 'event', event: nth(events, 1) },
      { type: 'event', event: nth(events, 0) },
      { type: 'snapshot', detail: detail(events) },
    ]);
    expect(ids(state)).toEqual(events.map((event) => event.event_id));
  });

  it('replaces the cards with each snapshot', () => {
    const state = run([
      { type: 'snapshot', detail: detail() },
      { type: 'snapshot', detail: detail(makeEvents(3), 'down') },
    ]);
    expect(state.snapshot?.components[1]).toMatchObject({ component: 'xray', status: 'down' });
  });

  it('marks lagged until the snapshot after it, which fills in the missed events', () => {
    const events = makeEvents(6);
    const lagged = run([
      { type: 'snapshot', detail: detail(events.slice(4)) },
      { type: 'lagged', lagged: { node_id: 'node-a', missed: 4 } },
    ]);
    expect(lagged.resyncing).toBe(true);
    expect(lagged.connection).toBe('live');
    const resynced = streamReducer(lagged, { type: 'snapshot', detail: detail(events) });
    expect(resynced.resyncing).toBe(false);
    expect(ids(resynced)).toEqual(events.map((event) => event.event_id));
  });

  it('keeps the last snapshot on node_error and goes live again with the next snapshot', () => {
    const live = run([hello, { type: 'snapshot', detail: detail() }]);
    const lost = streamReducer(live, {
      type: 'node_error',
      nodeError: { node_id: 'node-a', error: 'timed out after 5 s' },
    });
    expect(lost).toMatchObject({ connection: 'unreachable', reason: 'timed out after 5 s' });
    expect(lost.snapshot).toBe(live.snapshot);
    expect(lost.events).toBe(live.events);
    const back = streamReducer(lost, { type: 'snapshot', detail: detail() });
    expect(back).toMatchObject({ connection: 'live', reason: null });
  });

  it('says reconnecting while our own connection is down, keeping what it had', () => {
    const live = run([hello, { type: 'snapshot', detail: detail() }]);
    const dropped = run([{ type: 'disconnected', reason: 'network error' }, { type: 'connecting' }], live);
    expect(dropped).toMatchObject({ connection: 'reconnecting', reason: 'network error' });
    expect(dropped.snapshot).toBe(live.snapshot);
    const back = run([hello, { type: 'snapshot', detail: detail() }], dropped);
    expect(back.connection).toBe('live');
  });

  describe('refreshed (the periodic re-read while live)', () => {
    /** The node re-read `later` ms after the mocks' now: newer checks, `failures` in a row on xray. */
    const reread = (later: number, failures: number, xray: 'up' | 'down' = 'down') => {
      const item = makeItem({ id: 'node-a', xray, now: MOCK_NOW + later });
      return parseNodeDetail(
        JSON.parse(
          JSON.stringify(
            makeDetail(
              {
                ...item,
                components: item.components.map((c) =>
                  c.component === 'xray'
                    ? { ...c, consecutive_failures: failures, recovering: { successes: 1, needed: 3 } }
                    : c,
                ),
              },
              [],
            ),
          ),
        ),
      );
    };

    it('replaces the cards, slots and summary but keeps the events', () => {
      const live = run([hello, { type: 'snapshot', detail: detail(makeEvents(3), 'down') }]);
      const fresh = reread(15_000, 27);
      const next = streamReducer(live, { type: 'refreshed', detail: fresh });
      expect(next.connection).toBe('live');
      expect(next.snapshot?.components[1]).toMatchObject({
        component: 'xray',
        consecutive_failures: 27,
        checked_at: fresh.components[1]?.checked_at,
        recovering: { successes: 1, needed: 3 },
      });
      expect(next.snapshot?.recent_slots.at(-1)?.observed_secs).toBe(fresh.recent_slots.at(-1)?.observed_secs);
      expect(next.snapshot?.summary).toBe('degraded');
      expect(next.events).toBe(live.events);
      expect(next.snapshot && 'events' in next.snapshot).toBe(false);
      // Unchanged parts keep their identity: nothing is redrawn for them.
      expect(next.snapshot?.components[2]).not.toBe(live.snapshot?.components[2]); // its checked_at moved
      const again = streamReducer(next, { type: 'refreshed', detail: reread(15_000, 27) });
      expect(again).toBe(next);
    });

    it('takes the summary from the re-read', () => {
      const live = run([hello, { type: 'snapshot', detail: detail(makeEvents(3), 'down') }]);
      const next = streamReducer(live, { type: 'refreshed', detail: reread(15_000, 0, 'up') });
      expect(next.snapshot?.summary).toBe('up');
    });

    it('is ignored when not live, or older than the snapshot shown', () => {
      const live = run([hello, { type: 'snapshot', detail: detail() }]);
      const lost = streamReducer(live, { type: 'node_error', nodeError: { node_id: 'node-a', error: 'x' } });
      expect(streamReducer(lost, { type: 'refreshed', detail: reread(15_000, 3) })).toBe(lost);
      expect(streamReducer(initialStreamState, { type: 'refreshed', detail: reread(15_000, 3) })).toBe(
        initialStreamState,
      );
      // A snapshot that overtook the request wins over the request's older answer.
      expect(streamReducer(live, { type: 'refreshed', detail: reread(-5_000, 3) })).toBe(live);
    });
  });

  it('reports a refused token and a stream that cannot exist', () => {
    expect(streamReducer(initialStreamState, { type: 'unauthorized' }).connection).toBe('unauthorized');
    expect(streamReducer(initialStreamState, { type: 'failed', reason: 'node not found: x' })).toMatchObject({
      connection: 'failed',
      reason: 'node not found: x',
    });
  });
});

describe('mergeEvents', () => {
  it('orders by time, not by the text of the timestamp', () => {
    const withMs = { ...makeEvent(1, 0), event_id: 'b', occurred_at: '2026-11-30T04:53:38.784Z' };
    const withoutMs = { ...makeEvent(2, 0), event_id: 'a', occurred_at: '2026-11-30T04:53:38Z' };
    expect(mergeEvents([], [withoutMs, withMs]).map((event) => event.event_id)).toEqual(['b', 'a']);
  });

  it(`keeps the newest ${String(EVENTS_CAP)}`, () => {
    const events = makeEvents(EVENTS_CAP + 20);
    const merged = mergeEvents([], events);
    expect(merged).toHaveLength(EVENTS_CAP);
    expect(merged[0]).toEqual(events[0]);
    const newer = makeEvent(9_999, MOCK_NOW + 60_000);
    expect(mergeEvents(merged, [newer])[0]).toEqual(newer);
    expect(mergeEvents(merged, [newer])).toHaveLength(EVENTS_CAP);
  });
});
