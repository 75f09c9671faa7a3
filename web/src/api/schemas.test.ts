import { describe, expect, it } from 'vitest';
import { makeDetail, makeEvents, makeItem, makeRuntimeList, makeUnreachableItem } from '../mocks/builders';
import {
  PayloadError,
  parseEvent,
  parseHello,
  parseLagged,
  parseNodeDetail,
  parseNodeError,
  parseNodeMetaList,
  parseRuntimeList,
} from './schemas';

const json = (value: unknown): unknown => JSON.parse(JSON.stringify(value));

describe('runtime list', () => {
  it('parses the contract payload as sent', () => {
    const list = parseRuntimeList(
      json(makeRuntimeList([makeItem({ id: 'node-a' }), makeUnreachableItem('node-b', 'node-b', 'timed out')])),
    );
    expect(list.partial).toBe(true);
    expect(list.unreachable_nodes).toEqual(['node-b']);
    expect(list.rows).toHaveLength(2);
    const [first, second] = list.rows;
    expect(first?.ok && first.item.recent_slots).toHaveLength(336);
    expect(second?.ok && second.item.error).toBe('timed out');
  });

  it('reads enum values it does not know as unknown', () => {
    const item = makeItem({ id: 'node-a' });
    const raw = json({
      partial: false,
      unreachable_nodes: [],
      items: [
        {
          ...item,
          summary: 'maintenance',
          components: [{ ...item.components[1], component: 'nginx', status: 'draining' }],
          recent_slots: [
            { ...item.recent_slots[0], summary: 'meh', xp: 'sleeping', xray: 'draining', cloudflared: 'up' },
          ],
        },
      ],
    });
    const [row] = parseRuntimeList(raw).rows;
    if (!row?.ok) throw new Error('row should parse');
    expect(row.item.summary).toBe('unknown');
    expect(row.item.components[0]).toMatchObject({ component: 'unknown', status: 'unknown' });
    expect(row.item.recent_slots[0]).toMatchObject({
      summary: 'unknown',
      xp: 'unknown',
      xray: 'unknown',
      cloudflared: 'up',
    });
  });

  it('drops fields it does not know', () => {
    const item = makeItem({ id: 'node-a' });
    const raw = json({ partial: false, unreachable_nodes: [], generated_at: 'x', items: [{ ...item, region: 'eu' }] });
    const [row] = parseRuntimeList(raw).rows;
    expect(row?.ok && 'region' in row.item).toBe(false);
  });

  it('turns an item missing a required field into an error row, keeping the others', () => {
    const { recent_slots: _slots, ...broken } = makeItem({ id: 'node-b', name: 'Broken' });
    const list = parseRuntimeList(
      json({ partial: false, unreachable_nodes: [], items: [makeItem({ id: 'node-a' }), broken] }),
    );
    expect(list.rows[0]?.ok).toBe(true);
    expect(list.rows[1]).toEqual({
      ok: false,
      invalid: { node_id: 'node-b', node_name: 'Broken', problem: expect.stringContaining('recent_slots') as unknown },
    });
  });

  it('names a slot field that has the wrong type', () => {
    const item = makeItem({ id: 'node-a' });
    const slots = item.recent_slots.map((slot, index) => (index === 7 ? { ...slot, down_secs: 'lots' } : slot));
    const [row] = parseRuntimeList(json({ items: [{ ...item, recent_slots: slots }] })).rows;
    expect(row?.ok === false && row.invalid.problem).toContain('recent_slots.7.down_secs');
  });

  it('reads missing partial and unreachable_nodes as a whole answer', () => {
    const list = parseRuntimeList({ items: [] });
    expect(list).toEqual({ partial: false, unreachable_nodes: [], rows: [] });
  });

  it('refuses a body that is not a runtime list at all', () => {
    expect(() => parseRuntimeList({ error: { code: 'x' } })).toThrow(PayloadError);
    expect(() => parseRuntimeList('<html>')).toThrow(PayloadError);
  });
});

describe('node metadata', () => {
  it('parses the items and leaves out unreadable ones', () => {
    const meta = parseNodeMetaList({
      items: [
        { node_id: 'a', node_name: 'A', api_base_url: 'https://a', access_host: 'a.example', extra: 1 },
        { node_name: 'no id' },
      ],
    });
    expect(meta).toEqual([{ node_id: 'a', node_name: 'A', api_base_url: 'https://a', access_host: 'a.example' }]);
  });
});

describe('node detail', () => {
  it('parses the item and its events, newest first as sent', () => {
    const events = makeEvents(3);
    const detail = parseNodeDetail(json(makeDetail(makeItem({ id: 'node-a' }), events)));
    expect(detail.node_id).toBe('node-a');
    expect(detail.events.map((event) => event.event_id)).toEqual(events.map((event) => event.event_id));
  });

  it('leaves out unreadable events', () => {
    const [good] = makeEvents(1);
    const detail = parseNodeDetail(json({ ...makeItem({ id: 'node-a' }), events: [good, { event_id: 'x' }] }));
    expect(detail.events).toEqual([good]);
  });

  it("reads a component's recovery, and its absence or a garbled one as none", () => {
    const item = makeItem({ id: 'node-a', xray: 'down' });
    const xray = item.components[1];
    const withRecovery = (recovering: unknown) =>
      parseNodeDetail(json({ ...item, components: [item.components[0], { ...xray, recovering }], events: [] }))
        .components[1]?.recovering;
    expect(withRecovery({ successes: 2, needed: 3 })).toEqual({ successes: 2, needed: 3 });
    expect(withRecovery(null)).toBeNull();
    expect(withRecovery('halfway')).toBeUndefined();
    expect(withRecovery({ successes: 'two' })).toBeUndefined();
    expect(parseNodeDetail(json({ ...item, events: [] })).components[1]?.recovering).toBeUndefined();
  });

  it('refuses a detail without events or without its item fields', () => {
    expect(() => parseNodeDetail(json(makeItem({ id: 'node-a' })))).toThrow(/events/);
    expect(() => parseNodeDetail({ events: [] })).toThrow(/node_id/);
  });
});

describe('event', () => {
  it('reads the null statuses of events that are not status changes', () => {
    const event = parseEvent({
      event_id: '01J',
      occurred_at: '2026-11-30T04:53:37.828Z',
      component: 'xp',
      kind: 'status_changed',
      level: 'info',
      message: 'demo: history before this point is synthetic',
      status_from: null,
      status_to: null,
    });
    expect(event).toMatchObject({ status_from: null, status_to: null });
  });

  it('reads unknown kind, level and component as unknown', () => {
    const [base] = makeEvents(1);
    expect(
      parseEvent({ ...base, kind: 'drained', level: 'notice', component: 'nginx', status_to: 'draining' }),
    ).toMatchObject({
      kind: 'unknown',
      level: 'unknown',
      component: 'unknown',
      status_to: 'unknown',
    });
  });

  it("reads the kind of an unreachable node's failure, leniently", () => {
    const list = parseRuntimeList(
      json(
        makeRuntimeList([
          { ...makeUnreachableItem('node-b', 'node-b', 'timed out'), error_kind: 'timeout' },
          // A kind from a newer agent.
          { ...makeUnreachableItem('node-c', 'node-c', 'odd'), error_kind: 'quantum' as 'timeout' },
        ]),
      ),
    );
    expect(list.rows.map((row) => (row.ok ? row.item.error_kind : null))).toEqual(['timeout', 'unknown']);
  });

  it("knows the agent's clock warnings", () => {
    const [base] = makeEvents(1);
    expect(parseEvent({ ...base, kind: 'clock_warning', level: 'warning', component: 'xp' })).toMatchObject({
      kind: 'clock_warning',
      level: 'warning',
    });
  });

  it('gives null for an event missing its id', () => {
    const [base] = makeEvents(1);
    const { event_id: _id, ...rest } = base ?? {};
    expect(parseEvent(rest)).toBeNull();
  });
});

describe('stream frames', () => {
  it('parses hello, node_error and lagged', () => {
    expect(parseHello({ node_id: 'a', connected_at: '2026-11-30T04:53:50.467Z', extra: 1 })).toEqual({
      node_id: 'a',
      connected_at: '2026-11-30T04:53:50.467Z',
    });
    expect(parseNodeError({ node_id: 'a', error: 'timed out' })).toEqual({ node_id: 'a', error: 'timed out' });
    expect(parseLagged({ node_id: 'a', missed: 12 })).toEqual({ node_id: 'a', missed: 12 });
  });

  it('refuses frames missing their fields', () => {
    expect(() => parseHello({ node_id: 'a' })).toThrow(PayloadError);
    expect(() => parseNodeError({ node_id: 'a' })).toThrow(PayloadError);
    expect(() => parseLagged({ missed: 1 })).toThrow(PayloadError);
  });
});
