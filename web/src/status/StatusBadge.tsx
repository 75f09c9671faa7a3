import type { ComponentStatus, Summary } from '../api/schemas';

export type StatusValue = Summary | ComponentStatus | 'unreachable';

/** Every state has a shape as well as a colour, so colour is never the only cue. */
const ICONS: Record<StatusValue, string> = {
  up: '✓',
  degraded: '◐',
  down: '✕',
  unknown: '?',
  disabled: '–',
  unreachable: '⚠',
};

export function StatusIcon({ value }: { value: StatusValue }) {
  return (
    <span className={`status-icon status-icon--${value}`} aria-hidden="true">
      {ICONS[value]}
    </span>
  );
}

/** A status with its icon and its word, e.g. "✕ down". */
export function StatusBadge({ value, label }: { value: StatusValue; label?: string }) {
  return (
    <span className={`badge badge--${value}`}>
      <StatusIcon value={value} />
      {label ?? value}
    </span>
  );
}

/** A component that needs attention, e.g. "xray: down". */
export function StatusChip({ name, value }: { name: string; value: StatusValue }) {
  return (
    <span className={`chip chip--${value}`}>
      <StatusIcon value={value} />
      {name}: {value}
    </span>
  );
}
