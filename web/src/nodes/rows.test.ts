import { describe, expect, it } from 'vitest';
import { parseRuntimeList } from '../api/schemas';
import { MOCK_NOW, makeItem, makeRuntimeList, makeSlots, makeUnreachableItem, notObserved } from '../mocks/builders';
import { buildRows, countRows, filterRows, lastDataAt, rowKey, unreachableIds } from './rows';

const list = parseRuntimeList(
  JSON.parse(
    JSON.stringify(
      makeRuntimeList([
        makeItem({ id: 'a', name: 'Alpha' }),
        makeItem({ id: 'b', name: 'Bravo', xray: 'down' }),
        makeUnreachableItem('c', 'Charlie', 'timed out'),
        makeItem({ id: 'd', name: 'Delta', xray: 'down', cloudflared: false }),
        makeItem({ id: 'e', name: 'Echo', xray: 'unknown' }),
        makeItem({ id: 'f', name: 'Foxtrot' }),
      ]),
    ),
  ),
);

describe('node rows', () => {
  it('put problems first (down, unreachable, degraded, unknown), then keep cluster-file order', () => {
    expect(buildRows(list, []).map(rowKey)).toEqual(['d', 'c', 'b', 'e', 'a', 'f']);
  });

  it('count up, degraded, down, unreachable and unknown', () => {
    expect(countRows(buildRows(list, []))).toEqual({
      total: 6,
      up: 2,
      degraded: 1,
      down: 1,
      unreachable: 1,
      unknown: 1,
    });
  });

  it('filter by name or id, ignoring case', () => {
    const rows = buildRows(list, []);
    expect(filterRows(rows, 'ALP').map(rowKey)).toEqual(['a']);
    expect(filterRows(rows, ' d ').map(rowKey)).toEqual(['d']);
    expect(filterRows(rows, '')).toBe(rows);
  });

  it('attach the static metadata by node id', () => {
    const [row] = buildRows(list, [{ node_id: 'd', node_name: 'Delta', access_host: 'delta.example.com' }]);
    expect(row?.kind === 'node' && row.meta?.access_host).toBe('delta.example.com');
  });

  it('name every unreachable node, from the list and from rows that carry an error', () => {
    expect(unreachableIds(list)).toEqual(['c']);
    expect(unreachableIds({ ...list, unreachable_nodes: ['z'] })).toEqual(['c', 'z']);
  });
});

describe("an unreachable node's data age", () => {
  const SLOT_MS = 1_800_000;
  const slotStart = Math.floor(MOCK_NOW / SLOT_MS) * SLOT_MS;

  it("is its components' newest check, not the end of the newest slot's observed time", () => {
    // The newest slot was observed for 20 minutes in all, but the agent stopped 5
    // minutes into it and ran again earlier: its last check was at slot start + 5 min.
    const slots = makeSlots({ patches: { 335: { observed_secs: 1200 } } });
    const checkedAt = slotStart + 5 * 60_000;
    const item = makeUnreachableItem('c', 'Charlie', 'timed out', slots);
    const withChecks = {
      ...item,
      components: item.components.map((c, index) => ({
        ...c,
        checked_at: new Date(checkedAt - index * 1_000).toISOString(),
      })),
    };
    expect(lastDataAt(withChecks)).toBe(checkedAt);
  });

  it('falls back to the newest observed slot when nothing was ever checked', () => {
    const item = makeUnreachableItem('c', 'Charlie', 'timed out', makeSlots({ patches: notObserved(330, 6) }));
    expect(lastDataAt(item)).toBe(slotStart - 5 * SLOT_MS);
    expect(
      lastDataAt(makeUnreachableItem('c', 'Charlie', 'timed out', makeSlots({ patches: notObserved(0, 336) }))),
    ).toBeNull();
  });
});
