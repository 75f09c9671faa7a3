import { useEffect } from 'react';
import { ApiError } from '../api/client';
import { newestCheckedAt } from '../api/freshness';
import type { Summary } from '../api/schemas';
import { useNodeStream } from '../api/useNodeStream';
import { StatusBadge } from '../status/StatusBadge';
import { formatDateTime, formatShortClock } from '../time/format';
import { ComponentCard } from './ComponentCard';
import { LivePill } from './LivePill';
import { useNodeDetail } from './queries';
import { Timeline } from './Timeline';

/**
 * The node's summary; while the page is not live it is marked as old: greyed, with
 * the time of its newest check ("as of 14:03 GMT+9").
 */
function SummaryBadge({ value, asOf, stale }: { value: Summary; asOf: number | null; stale: boolean }) {
  if (!stale) return <StatusBadge value={value} />;
  return (
    <span
      className="summary-stale"
      data-testid="summary-stale"
      title={asOf === null ? 'Not live: this summary may be old' : `Not live: as of ${formatDateTime(asOf)}`}
    >
      <StatusBadge value={value} />
      <span className="muted">{asOf === null ? 'not current' : `as of ${formatShortClock(asOf)}`}</span>
    </span>
  );
}

/**
 * One node, live: the GET answer paints first, then the stream takes over; while
 * the stream is down the last snapshot stays on screen and the pill says why.
 */
export function NodeDetailsPage({ nodeId }: { nodeId: string }) {
  const stream = useNodeStream(nodeId);
  const detail = useNodeDetail(nodeId);
  const snapshot = stream.snapshot ?? detail.data ?? null;
  const events = stream.snapshot ? stream.events : (detail.data?.events ?? []);
  const notFound = (detail.error instanceof ApiError && detail.error.status === 404) || stream.connection === 'failed';
  const name = snapshot?.node_name ?? nodeId;
  // Not while the first connection is being made: the GET answer shown then is fresh.
  const stale = stream.connection !== 'live' && stream.connection !== 'connecting';

  useEffect(() => {
    document.title = `${name} · xpagent`;
  }, [name]);

  return (
    <section className="page" aria-labelledby="node-title">
      <nav className="breadcrumb">
        <a href="#/">← All nodes</a>
      </nav>
      <header className="page__header">
        <h1 id="node-title">{name}</h1>
        <span className="node-row__id">{nodeId}</span>
        {snapshot && (
          <SummaryBadge value={snapshot.summary} asOf={newestCheckedAt(snapshot.components)} stale={stale} />
        )}
        <LivePill connection={stream.connection} reason={stream.reason} />
      </header>

      {notFound && !snapshot ? (
        <div className="banner banner--error" role="alert">
          No node <code>{nodeId}</code> in this cluster. <a href="#/">Back to all nodes</a>
        </div>
      ) : snapshot ? (
        <>
          <div className="cards">
            {snapshot.components.map((component, index) => (
              <ComponentCard
                key={`${component.component}-${String(index)}`}
                state={component}
                slots={snapshot.recent_slots}
              />
            ))}
          </div>
          {stream.resyncing && (
            <p className="muted" role="status">
              This page fell behind and missed some events; catching up…
            </p>
          )}
          <Timeline events={events} />
        </>
      ) : (
        <p className="muted">
          {stream.connection === 'unreachable' ? 'No data from this node yet.' : 'Loading…'}
          {detail.error && !notFound && ` (${detail.error.message})`}
        </p>
      )}
    </section>
  );
}
