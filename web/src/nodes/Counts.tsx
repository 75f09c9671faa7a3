import { StatusIcon } from '../status/StatusBadge';
import type { Counts as CountsModel, RowStatus } from './rows';

const SHOWN: RowStatus[] = ['up', 'degraded', 'down', 'unreachable'];

/** "3 nodes: 2 up · 0 degraded · 1 down · 0 unreachable" (unknown only when there are some). */
export function Counts({ counts }: { counts: CountsModel }) {
  const shown = counts.unknown ? [...SHOWN, 'unknown' as const] : SHOWN;
  return (
    <p className="counts" data-testid="counts">
      <strong>
        {counts.total} {counts.total === 1 ? 'node' : 'nodes'}
      </strong>
      {shown.map((status) => (
        <span key={status} className={`counts__item counts__item--${status}`} data-status={status}>
          <StatusIcon value={status} />
          {counts[status]} {status}
        </span>
      ))}
    </p>
  );
}
