/**
 * Every date and duration the UI shows, through `Intl` only: local time, with the
 * time zone named, in the reader's locale.
 */

// The browser's language, named explicitly so tests (jsdom says en-US) do not depend
// on the machine's locale settings.
const locale = typeof navigator === 'undefined' ? undefined : navigator.language;

const dateTime = new Intl.DateTimeFormat(locale, {
  weekday: 'short',
  day: 'numeric',
  month: 'short',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  timeZoneName: 'short',
});

const slotRange = new Intl.DateTimeFormat(locale, {
  weekday: 'short',
  day: 'numeric',
  month: 'short',
  hour: '2-digit',
  minute: '2-digit',
  timeZoneName: 'short',
});

const clock = new Intl.DateTimeFormat(locale, {
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  timeZoneName: 'short',
});

const shortClock = new Intl.DateTimeFormat(locale, {
  hour: '2-digit',
  minute: '2-digit',
  timeZoneName: 'short',
});

const relative = new Intl.RelativeTimeFormat(locale, { numeric: 'auto' });

/** Milliseconds since the epoch, or null for a missing or malformed time. */
export function parseTime(iso: string | null | undefined): number | null {
  if (!iso) return null;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? null : ms;
}

export function formatDateTime(ms: number): string {
  return dateTime.format(ms);
}

/** A time of day with its zone, e.g. "14:03:09 GMT+9". */
export function formatClock(ms: number): string {
  return clock.format(ms);
}

/** A time of day to the minute with its zone, e.g. "14:03 GMT+9". */
export function formatShortClock(ms: number): string {
  return shortClock.format(ms);
}

/** A slot's local start–end, e.g. "Mon 30 Nov, 13:30 – 14:00 GMT+9". */
export function formatRange(startMs: number, endMs: number): string {
  return slotRange.formatRange(startMs, endMs);
}

const RELATIVE_STEPS: [Intl.RelativeTimeFormatUnit, number][] = [
  ['second', 60],
  ['minute', 60],
  ['hour', 24],
  ['day', 7],
  ['week', Number.POSITIVE_INFINITY],
];

/** "3 minutes ago"; a time slightly ahead of our clock (skew) reads as "now". */
export function formatRelative(ms: number, nowMs: number): string {
  let value = Math.round((ms - nowMs) / 1000);
  if (value > 0) value = 0;
  for (const [unit, size] of RELATIVE_STEPS) {
    if (Math.abs(value) < size) return relative.format(value, unit);
    value = Math.round(value / size);
  }
  return relative.format(value, 'week');
}

/** A compact duration: "20 s", "12 min", "1 h 5 min", "2 d 3 h". */
export function formatDuration(totalSecs: number): string {
  const secs = Math.max(0, Math.round(totalSecs));
  if (secs < 60) return `${String(secs)} s`;
  const mins = Math.floor(secs / 60);
  if (mins < 60) return `${String(mins)} min`;
  const hours = Math.floor(mins / 60);
  if (hours < 24) return mins % 60 ? `${String(hours)} h ${String(mins % 60)} min` : `${String(hours)} h`;
  const days = Math.floor(hours / 24);
  return hours % 24 ? `${String(days)} d ${String(hours % 24)} h` : `${String(days)} d`;
}
