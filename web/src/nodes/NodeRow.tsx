import { memo } from 'react';
import type { RuntimeItem } from '../api/schemas';
import { StatusBar } from '../bar/StatusBar';
import { availability, formatAvailability, windowText } from '../bar/slots';
import { StatusBadge, StatusChip } from '../status/StatusBadge';
import { formatRelative } from '../time/format';
import { useNow } from '../time/useNow';
import { lastDataAt, rowName, rowStatus, type NodeRowModel } from './rows';

export const NodeRow = memo(function NodeRow({ row }: { row: NodeRowModel }) {
  if (row.kind === 'invalid') {
    const { invalid } = row;
    return (
      <li
        className="node-row node-row--invalid"
        data-testid="node-row"
        data-node-id={invalid.node_id ?? ''}
        data-summary="unknown"
        data-unreachable="false"
      >
        <div className="node-row__name">
          <span className="node-row__title">{rowName(row)}</span>
          {invalid.node_id && <span className="node-row__id">{invalid.node_id}</span>}
        </div>
        <div className="node-row__status">
          <StatusBadge value="unknown" />
          <p className="node-row__problem" role="note">
            This node&apos;s data could not be read ({invalid.problem}). A newer or older agent may send another format.
          </p>
        </div>
      </li>
    );
  }

  const { item, meta, unreachable } = row;
  const status = rowStatus(row);
  const attention = unreachable
    ? []
    : item.components.filter((component) => component.status !== 'up' && component.status !== 'disabled');
  const value = availability(item.recent_slots);

  return (
    <li
      className={`node-row node-row--${status}`}
      data-testid="node-row"
      data-node-id={item.node_id}
      data-summary={item.summary}
      data-unreachable={String(unreachable)}
    >
      <div className="node-row__name">
        <a className="node-row__title" href={`#/nodes/${encodeURIComponent(item.node_id)}`}>
          {item.node_name}
        </a>
        <span className="node-row__id">
          {item.node_id}
          {meta?.access_host && ` · ${meta.access_host}`}
        </span>
      </div>
      <div className="node-row__status">
        <StatusBadge value={status} />
        {attention.map((component, index) => (
          <StatusChip
            key={`${component.component}-${String(index)}`}
            name={component.component}
            value={component.status}
          />
        ))}
        {unreachable && <UnreachableReason item={item} />}
      </div>
      <div className="node-row__bar">
        <StatusBar slots={item.recent_slots} label={item.node_name} />
      </div>
      <div
        className="node-row__availability"
        title={`Availability, ${windowText(item.recent_slots)}: 1 − time down / time observed`}
      >
        {formatAvailability(value)}
      </div>
    </li>
  );
});

/** What an operator checks first, by the kind of failure the agent reported. */
const ERROR_HINTS: Partial<Record<string, string>> = {
  timeout: 'no answer in time: the node, its host or the network is down or slow',
  connection: 'nothing answered at its address: its agent is stopped, or the network drops it',
  tls: "TLS failed: check the node's certificate and XP_CLUSTER_CA_FILE",
  http_status: 'it answered with an error: see its log (401: the cluster secrets differ)',
  bad_answer: 'it answered, but not as this node: check its api_base_url in the cluster file',
  config: 'this node cannot ask it: check XP_CLUSTER_SECRET_FILE and the cluster file',
};

function UnreachableReason({ item }: { item: RuntimeItem }) {
  const now = useNow();
  const since = lastDataAt(item);
  const hint = item.error_kind ? ERROR_HINTS[item.error_kind] : undefined;
  return (
    <p className="node-row__problem" data-error-kind={item.error_kind ?? undefined}>
      {item.error ?? 'did not answer'}
      {' · '}
      {since === null ? 'no earlier data' : `data from ≈ ${formatRelative(since, now)}`}
      {hint && <span className="node-row__hint">{hint}</span>}
    </p>
  );
}
