import { formatDateTime, formatRelative, parseTime } from './format';
import { useNow } from './useNow';

/** A time as "3 minutes ago", with the absolute local time in its tooltip (or beside it). */
export function TimeValue({ iso, showAbsolute = false }: { iso: string | null | undefined; showAbsolute?: boolean }) {
  const now = useNow();
  const ms = parseTime(iso);
  if (ms === null || !iso) return <span className="muted">—</span>;
  const absolute = formatDateTime(ms);
  return (
    <time dateTime={iso} title={absolute}>
      {formatRelative(ms, now)}
      {showAbsolute && <span className="muted"> · {absolute}</span>}
    </time>
  );
}
