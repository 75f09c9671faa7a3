import { useEffect } from 'react';
import { ApiError } from '../api/client';
import { useNodeStream } from '../api/useNodeStream';
import { StatusBadge } from '../status/StatusBadge';
import { ComponentCard } from './ComponentCard';
import { LivePill } from './LivePill';
import { useNodeDetail } from './queries';
import { Timeline } from './Timeline';

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
        {snapshot && <StatusBadge value={snapshot.summary} />}
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
