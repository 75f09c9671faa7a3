import { describe, expect, it } from 'vitest';
import { formatDateTime, formatDuration, formatRelative, parseTime } from './format';

describe('time formatting', () => {
  it('parses RFC 3339 with and without milliseconds, and rejects the rest', () => {
    expect(parseTime('2026-11-30T04:53:38Z')).toBe(Date.UTC(2026, 10, 30, 4, 53, 38));
    expect(parseTime('2026-11-30T04:53:38.784Z')).toBe(Date.UTC(2026, 10, 30, 4, 53, 38, 784));
    expect(parseTime('yesterday')).toBeNull();
    expect(parseTime(null)).toBeNull();
  });

  it('shows local time with the zone named', () => {
    expect(formatDateTime(Date.UTC(2026, 10, 30, 4, 53, 38))).toMatch(/Nov 30.*04:53:38.*UTC/);
  });

  it('writes durations compactly', () => {
    expect(formatDuration(20)).toBe('20 s');
    expect(formatDuration(720)).toBe('12 min');
    expect(formatDuration(3900)).toBe('1 h 5 min');
    expect(formatDuration(7200)).toBe('2 h');
    expect(formatDuration(183_600)).toBe('2 d 3 h');
  });

  it('writes relative times, reading a time ahead of our clock as now', () => {
    const now = Date.UTC(2026, 10, 30, 5);
    expect(formatRelative(now - 3 * 60_000, now)).toBe('3 minutes ago');
    expect(formatRelative(now - 26 * 3_600_000, now)).toBe('yesterday');
    expect(formatRelative(now + 2_000, now)).toBe('now');
  });
});
