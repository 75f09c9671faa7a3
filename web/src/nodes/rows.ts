/**
 * The nodes page's derived values, pure: rows from the two payloads, their order
 * (problems first, then cluster-file order), the counts and the filter.
 */
import { newestCheckedAt } from '../api/freshness';
import type { InvalidItem, NodeMeta, RuntimeItem, RuntimeList, Summary } from '../api/schemas';
import { SLOT_SECS } from '../bar/slots';
import { parseTime } from '../time/format';

export type NodeRowModel =
  | { kind: 'node'; order: number; item: RuntimeItem; meta: NodeMeta | undefined; unreachable: boolean }
  | { kind: 'invalid'; order: number; invalid: InvalidItem };

export type RowStatus = Summary | 'unreachable';

export function rowStatus(row: NodeRowModel): RowStatus {
  if (row.kind === 'invalid') return 'unknown';
  return row.unreachable ? 'unreachable' : row.item.summary;
}

export function rowKey(row: NodeRowModel): string {
  return row.kind === 'node' ? row.item.node_id : `invalid-${String(row.order)}`;
}

export function rowName(row: NodeRowModel): string {
  if (row.kind === 'node') return row.item.node_name;
  return row.invalid.node_name ?? row.invalid.node_id ?? 'unreadable node';
}

const RANK: Record<RowStatus, number> = { down: 0, unreachable: 1, degraded: 2, unknown: 3, up: 4 };

export function buildRows(list: RuntimeList, meta: readonly NodeMeta[]): NodeRowModel[] {
  const metaById = new Map(meta.map((entry) => [entry.node_id, entry]));
  const unreachable = new Set(list.unreachable_nodes);
  const rows = list.rows.map((row, order): NodeRowModel => {
    if (!row.ok) return { kind: 'invalid', order, invalid: row.invalid };
    const { item } = row;
    return {
      kind: 'node',
      order,
      item,
      meta: metaById.get(item.node_id),
      unreachable: Boolean(item.error) || unreachable.has(item.node_id),
    };
  });
  // Array.prototype.sort is stable: equal ranks keep the cluster file's order.
  return rows.sort((a, b) => RANK[rowStatus(a)] - RANK[rowStatus(b)]);
}

export type Counts = Record<RowStatus, number> & { total: number };

export function countRows(rows: readonly NodeRowModel[]): Counts {
  const counts: Counts = { total: rows.length, up: 0, degraded: 0, down: 0, unknown: 0, unreachable: 0 };
  for (const row of rows) counts[rowStatus(row)] += 1;
  return counts;
}

/** Rows whose name or id contains the query (case-insensitive). */
export function filterRows(rows: readonly NodeRowModel[], query: string): readonly NodeRowModel[] {
  const needle = query.trim().toLowerCase();
  if (!needle) return rows;
  return rows.filter((row) => {
    const id = row.kind === 'node' ? row.item.node_id : (row.invalid.node_id ?? '');
    return rowName(row).toLowerCase().includes(needle) || id.toLowerCase().includes(needle);
  });
}

/** Ids of the nodes that did not answer: the list's own, plus any row carrying an error. */
export function unreachableIds(list: RuntimeList): string[] {
  const ids = new Set(list.unreachable_nodes);
  for (const row of list.rows) if (row.ok && row.item.error) ids.add(row.item.node_id);
  return [...ids].sort();
}

/**
 * When the data shown for an unreachable node dates from: its components' newest
 * check. Only without any check, the end of the newest observed slot (which is only
 * an estimate: the slot may have had an unobserved stretch after the last check).
 */
export function lastDataAt(item: RuntimeItem): number | null {
  const checked = newestCheckedAt(item.components);
  if (checked !== null) return checked;
  for (let index = item.recent_slots.length - 1; index >= 0; index -= 1) {
    const slot = item.recent_slots[index];
    const start = parseTime(slot?.slot_start);
    if (slot && start !== null && slot.observed_secs > 0) return start + Math.min(slot.observed_secs, SLOT_SECS) * 1000;
  }
  return null;
}
