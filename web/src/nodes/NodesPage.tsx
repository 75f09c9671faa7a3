import { useDeferredValue, useId, useMemo, useState } from 'react';
import { formatClock } from '../time/format';
import { Counts } from './Counts';
import { NodeRow } from './NodeRow';
import { PartialBanner } from './PartialBanner';
import { useNodeMeta, useRuntimeList } from './queries';
import { buildRows, countRows, filterRows, rowKey, unreachableIds } from './rows';

export function NodesPage() {
  const runtime = useRuntimeList();
  const meta = useNodeMeta();
  const [filter, setFilter] = useState('');
  // Typing stays responsive with hundreds of rows: the list follows a frame later.
  const deferredFilter = useDeferredValue(filter);
  const filterId = useId();

  const rows = useMemo(() => (runtime.data ? buildRows(runtime.data, meta.data ?? []) : []), [runtime.data, meta.data]);
  const counts = useMemo(() => countRows(rows), [rows]);
  const shown = useMemo(() => filterRows(rows, deferredFilter), [rows, deferredFilter]);
  const unreachable = useMemo(() => (runtime.data ? unreachableIds(runtime.data) : []), [runtime.data]);
  const names = useMemo(
    () =>
      new Map(rows.flatMap((row) => (row.kind === 'node' ? [[row.item.node_id, row.item.node_name] as const] : []))),
    [rows],
  );

  const refresh = () => {
    void runtime.refetch();
    void meta.refetch();
  };

  return (
    <section className="page" aria-labelledby="nodes-title">
      <header className="page__header">
        <h1 id="nodes-title">Nodes</h1>
        {runtime.data && <Counts counts={counts} />}
        <div className="page__actions">
          <span className="muted" aria-live="polite">
            {runtime.isFetching
              ? 'refreshing…'
              : runtime.dataUpdatedAt > 0 && `updated ${formatClock(runtime.dataUpdatedAt)}`}
          </span>
          <button type="button" className="button" onClick={refresh} aria-busy={runtime.isFetching}>
            Refresh
          </button>
        </div>
      </header>

      {runtime.error && (
        <div className="banner banner--error" role="alert">
          {runtime.data ? 'The last refresh failed' : 'Could not load the nodes'}: {runtime.error.message}
          {runtime.data && ' — showing the previous answer.'}
        </div>
      )}
      {unreachable.length > 0 && <PartialBanner ids={unreachable} names={names} />}

      {runtime.data ? (
        <>
          <div className="filter">
            <label htmlFor={filterId}>Filter nodes</label>
            <input
              id={filterId}
              type="search"
              value={filter}
              placeholder="name or id"
              onChange={(event) => {
                setFilter(event.target.value);
              }}
            />
            {deferredFilter.trim() && (
              <span className="muted" aria-live="polite">
                showing {shown.length} of {rows.length}
              </span>
            )}
          </div>
          <div className="node-list__head" aria-hidden="true">
            <span>Node</span>
            <span>Status</span>
            <span>Last 7 days</span>
            <span>Availability</span>
          </div>
          <ul className="node-list" aria-label="Nodes">
            {shown.map((row) => (
              <NodeRow key={rowKey(row)} row={row} />
            ))}
          </ul>
          {rows.length === 0 && <p className="muted">This cluster has no nodes.</p>}
        </>
      ) : (
        !runtime.error && <p className="muted">Loading nodes…</p>
      )}
    </section>
  );
}
