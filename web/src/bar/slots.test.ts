import { describe, expect, it } from 'vitest';
import { makeSlots, notObserved, xrayDown } from '../mocks/builders';
import { nth } from '../test/nth';
import {
  FLAPPING_CHANGES,
  availability,
  barStats,
  barSummary,
  componentCell,
  formatAvailability,
  mergeRuns,
  nodeCell,
  severityOf,
  slotFacts,
  slotText,
  windowText,
  type Cell,
} from './slots';

const up: Cell = { state: 'up', severity: 0, flapping: false };

describe('severity', () => {
  it('tells a 20-second blip from a 30-minute outage', () => {
    expect(severityOf(20, 1800)).toBe(1);
    expect(severityOf(600, 1800)).toBe(2);
    expect(severityOf(1200, 1800)).toBe(3);
    expect(severityOf(1800, 1800)).toBe(4);
  });

  it('shows a bad slot with no down time or no observation at its extremes', () => {
    expect(severityOf(0, 1800)).toBe(1);
    expect(severityOf(30, 0)).toBe(4);
  });
});

describe('cells', () => {
  const slots = makeSlots({ patches: { ...xrayDown(1, 1, 20), ...xrayDown(2, 1, 1800, FLAPPING_CHANGES) } });

  it('takes the node cell from the slot summary, its down share and its changes', () => {
    expect(nodeCell(nth(slots, 0))).toEqual(up);
    expect(nodeCell(nth(slots, 1))).toEqual({ state: 'degraded', severity: 1, flapping: false });
    expect(nodeCell(nth(slots, 2))).toEqual({ state: 'degraded', severity: 4, flapping: true });
  });

  it("takes a component cell from that component's state", () => {
    expect(componentCell(nth(slots, 2), 'xray')).toEqual({ state: 'down', severity: 4, flapping: true });
    // cloudflared stayed up through xray's flapping: nothing to mark on its bar.
    expect(componentCell(nth(slots, 2), 'cloudflared')).toEqual(up);
    expect(componentCell(nth(makeSlots({ cloudflared: false }), 0), 'cloudflared')).toEqual({
      state: 'disabled',
      severity: 0,
      flapping: false,
    });
  });
});

describe('flapping', () => {
  it('is not marked for an agent start (≈ 3 changes) plus one outage (2 more)', () => {
    const slots = makeSlots({ patches: { ...xrayDown(1, 1, 300, 5), ...xrayDown(2, 1, 300, 6) } });
    expect(FLAPPING_CHANGES).toBe(6);
    expect(nodeCell(nth(slots, 1)).flapping).toBe(false);
    expect(componentCell(nth(slots, 1), 'xray').flapping).toBe(false);
    expect(slotFacts(slots, 1)?.flapping).toBe(false);
    expect(nodeCell(nth(slots, 2)).flapping).toBe(true);
    expect(slotFacts(slots, 2)?.flapping).toBe(true);
  });
});

describe("xp's bar", () => {
  it('draws a slot where xp was down (the agent stopped) grey, like unknown, never as an outage', () => {
    const slots = makeSlots({ patches: { 5: { xp: 'down', observed_secs: 600, changes: 3 } } });
    expect(componentCell(nth(slots, 5), 'xp')).toEqual({ state: 'unknown', severity: 0, flapping: false });
    expect(componentCell(nth(slots, 4), 'xp')).toEqual(up);
  });
});

describe('runs', () => {
  it('merges equal consecutive cells into one run', () => {
    const cells = makeSlots().map(nodeCell);
    expect(mergeRuns(cells)).toEqual([{ ...up, start: 0, length: 336 }]);
  });

  it('keeps slots of different severity or flapping apart', () => {
    const down = (severity: Cell['severity'], flapping = false): Cell => ({ state: 'down', severity, flapping });
    const runs = mergeRuns([up, up, down(1), down(1), down(4), down(4, true), up]);
    expect(runs.map(({ start, length, severity, flapping }) => [start, length, severity, flapping])).toEqual([
      [0, 2, 0, false],
      [2, 2, 1, false],
      [4, 1, 4, false],
      [5, 1, 4, true],
      [6, 1, 0, false],
    ]);
  });

  it('gives no runs for no slots', () => {
    expect(mergeRuns([])).toEqual([]);
  });
});

describe('availability', () => {
  it('is 1 − Σdown_secs / Σobserved_secs', () => {
    const slots = makeSlots({ now: Date.parse('2026-11-30T05:00:00Z'), patches: xrayDown(0, 1, 1800) });
    // 335 full slots observed plus the one just started (0 s), 1800 s down.
    expect(availability(slots)).toBeCloseTo(1 - 1800 / (335 * 1800), 10);
  });

  it('is null when nothing was observed', () => {
    expect(availability(makeSlots({ patches: notObserved(0, 336) }))).toBeNull();
    expect(availability([])).toBeNull();
  });

  it('is written so that any down time never reads 100%', () => {
    expect(formatAvailability(null)).toBe('no data');
    expect(formatAvailability(1)).toBe('100%');
    expect(formatAvailability(0.99999)).toBe('99.9%');
    expect(formatAvailability(0.9999)).toBe('99.9%');
    expect(formatAvailability(0.98249)).toBe('98.2%');
    expect(formatAvailability(0)).toBe('0.0%');
  });

  it('always has one decimal, so the column lines up', () => {
    expect(formatAvailability(0.999)).toBe('99.9%');
    expect(formatAvailability(0.9)).toBe('90.0%');
    expect(formatAvailability(0.995)).toBe('99.5%');
    expect(formatAvailability(0.123)).toBe('12.3%');
  });
});

describe('summary for screen readers', () => {
  it('counts down, degraded, flapping and unknown slots', () => {
    const slots = makeSlots({
      cloudflared: false,
      patches: { ...xrayDown(10, 3, 1800), ...xrayDown(20, 1, 60, 6), ...notObserved(0, 5) },
    });
    const stats = barStats(slots, slots.map(nodeCell));
    expect(stats).toMatchObject({ down: 4, degraded: 0, flapping: 1, unknown: 5 });
    expect(barSummary(stats)).toBe('99.0% available, 4 slots down, 1 flapping, 5 unknown');
  });

  it('says "no data" for a bar with no observation', () => {
    const slots = makeSlots({ patches: notObserved(0, 336) });
    expect(barSummary(barStats(slots, slots.map(nodeCell)))).toBe('no data, 336 unknown');
  });

  it("gives a component's bar its own counts, not the node's availability", () => {
    const slots = makeSlots({ patches: { ...xrayDown(10, 3, 1800), ...notObserved(0, 2) } });
    const summary = (component: 'xp' | 'xray' | 'cloudflared') =>
      barSummary(
        barStats(
          slots,
          slots.map((slot) => componentCell(slot, component)),
        ),
        component,
      );
    expect(summary('xray')).toBe('3 slots down, 2 unknown');
    expect(summary('cloudflared')).toBe('never down, 2 unknown');
    expect(summary('xp')).toBe('never down, 2 slots not running');
    expect(summary('xray')).not.toMatch(/available|7 days/);
  });
});

describe('tooltip facts', () => {
  const now = Date.parse('2026-11-30T04:47:00Z');
  const slots = makeSlots({ now, patches: xrayDown(334, 1, 20, 6) });

  it('describe a slot: local time range with zone, states, down, observed and changes', () => {
    const facts = slotFacts(slots, 334);
    expect(facts).toMatchObject({
      index: 334,
      inProgress: false,
      summary: 'degraded',
      components: [
        { name: 'xp', value: 'up', text: 'up' },
        { name: 'xray', value: 'down', text: 'down' },
        { name: 'cloudflared', value: 'up', text: 'up' },
      ],
      down: '20 s',
      observed: '30 min',
      changes: 6,
      flapping: true,
    });
    expect(facts?.range).toMatch(/Mon, Nov 30, 0?4:00\s*–\s*0?4:30\s*AM UTC/);
  });

  it('mark the slot in progress', () => {
    expect(slotFacts(slots, 335)).toMatchObject({ inProgress: true, observed: '17 min' });
    expect(slotFacts(slots, 336)).toBeNull();
  });

  it('read as one line for a screen reader', () => {
    const facts = slotFacts(slots, 334);
    if (!facts) throw new Error('slot 334 exists');
    expect(slotText(facts)).toMatch(
      /: degraded; xp up, xray down, cloudflared up; down 20 s of 30 min observed; 6 changes \(flapping\)$/,
    );
  });

  it('name a slot where xp was down `stopped`: the agent was not running, no outage', () => {
    const stopped = makeSlots({ patches: { 100: { xp: 'down', observed_secs: 600 } } });
    const facts = slotFacts(stopped, 100);
    expect(facts?.components[0]).toEqual({ name: 'xp', value: 'unknown', text: 'stopped' });
    if (!facts) throw new Error('slot 100 exists');
    expect(slotText(facts)).toContain('xp stopped, xray up');
  });

  it('name the window of the whole bar', () => {
    expect(windowText(slots)).toMatch(/Nov 23.*Nov 30/);
    expect(windowText([])).toBe('the last 7 days');
  });
});
