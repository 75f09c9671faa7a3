/**
 * The 7-day bar's model, pure: slots → cells (what one slot looks like) → runs of
 * equal consecutive cells (what is drawn), plus the figures shown beside the bar.
 *
 * A cell says how bad a slot was, not only its worst state: `severity` grows with
 * `down_secs / observed_secs`, so a 20-second blip and a 30-minute outage are both
 * `down` but are different cells (and never merge into one run).
 */
import { COMPONENTS, type ComponentName, type ComponentStatus, type Slot, type Summary } from '../api/schemas';
import { formatDuration, formatRange, parseTime } from '../time/format';

export type CellState = 'up' | 'degraded' | 'down' | 'unknown' | 'disabled';

/** 0 = nothing down; 1 = a blip (≤ 10 % of the observed time) … 4 = down nearly all of it. */
export type Severity = 0 | 1 | 2 | 3 | 4;

export interface Cell {
  state: CellState;
  severity: Severity;
  flapping: boolean;
}

export interface Run extends Cell {
  start: number;
  length: number;
}

export const SLOT_SECS = 1800;
export const SLOTS_PER_DAY = 48;
/**
 * A slot with at least this many status changes is marked as flapping. A slot's
 * `changes` also counts the transitions of every agent start: xp down → up and each
 * component unknown → up, about 3. A single outage adds 2 (down, then up again). So
 * a start plus one outage makes 5, and 6 or more means at least two outages, or a
 * restart and more; 4 would mark every slot with a start and one ordinary outage.
 */
export const FLAPPING_CHANGES = 6;

export function severityOf(downSecs: number, observedSecs: number): Severity {
  if (downSecs <= 0) return 1; // called only for bad states: even "0 s" was seen as bad
  const ratio = observedSecs > 0 ? downSecs / observedSecs : 1;
  if (ratio <= 0.1) return 1;
  if (ratio <= 0.4) return 2;
  if (ratio <= 0.8) return 3;
  return 4;
}

/** The node's bar: the slot summary, its down share, and flapping. */
export function nodeCell(slot: Slot): Cell {
  const bad = slot.summary === 'down' || slot.summary === 'degraded';
  return {
    state: slot.summary,
    severity: bad ? severityOf(slot.down_secs, slot.observed_secs) : 0,
    flapping: slot.changes >= FLAPPING_CHANGES,
  };
}

/**
 * What a component's state in a slot means. `xp` is the agent itself: it is `down`
 * in a slot only when the agent was not running (stopped), which is no outage, so it
 * is drawn like unknown (grey) and named `stopped`.
 */
export function slotComponentState(
  component: ComponentName,
  state: ComponentStatus,
): { value: ComponentStatus; text: string } {
  if (component === 'xp' && state === 'down') return { value: 'unknown', text: 'stopped' };
  return { value: state, text: state };
}

/**
 * A component's bar. Slots carry each component's worst state but only the node's
 * down time, so a down component's severity uses the slot's `down_secs` (an upper
 * bound for that component), and flapping is marked only where the component itself
 * was down; elsewhere its cell is its state alone. xp's `down` is a stopped agent: grey.
 */
export function componentCell(slot: Slot, component: ComponentName): Cell {
  const state = component === 'unknown' ? 'unknown' : slotComponentState(component, slot[component]).value;
  const down = state === 'down';
  return {
    state,
    severity: down ? severityOf(slot.down_secs, slot.observed_secs) : 0,
    flapping: down && slot.changes >= FLAPPING_CHANGES,
  };
}

function sameCell(a: Cell, b: Cell): boolean {
  return a.state === b.state && a.severity === b.severity && a.flapping === b.flapping;
}

export function mergeRuns(cells: readonly Cell[]): Run[] {
  const runs: Run[] = [];
  let current: Run | undefined;
  cells.forEach((cell, index) => {
    if (current && sameCell(current, cell)) {
      current.length += 1;
    } else {
      current = { ...cell, start: index, length: 1 };
      runs.push(current);
    }
  });
  return runs;
}

/** 7-day availability `1 − Σdown_secs / Σobserved_secs`; null when nothing was observed. */
export function availability(slots: readonly Slot[]): number | null {
  let down = 0;
  let observed = 0;
  for (const slot of slots) {
    down += slot.down_secs;
    observed += slot.observed_secs;
  }
  return observed > 0 ? Math.max(0, 1 - down / observed) : null;
}

/**
 * Always one decimal ("98.2%", "99.9%") so the column lines up, rounded down so a
 * node that was down at all never reads "100%" (99.99 % reads "99.9%"); "100%" only
 * when nothing was down.
 */
export function formatAvailability(value: number | null): string {
  if (value === null) return 'no data';
  if (value >= 1) return '100%';
  // The small allowance keeps binary noise (0.999 × 1000 = 998.999…) from losing a tenth.
  const tenths = Math.min(999, Math.floor(value * 1000 + 1e-9));
  return `${(tenths / 10).toFixed(1)}%`;
}

export interface BarStats {
  availability: number | null;
  down: number;
  degraded: number;
  flapping: number;
  unknown: number;
}

export function barStats(slots: readonly Slot[], cells: readonly Cell[]): BarStats {
  const stats: BarStats = { availability: availability(slots), down: 0, degraded: 0, flapping: 0, unknown: 0 };
  for (const cell of cells) {
    if (cell.state === 'down') stats.down += 1;
    else if (cell.state === 'degraded') stats.degraded += 1;
    else if (cell.state === 'unknown') stats.unknown += 1;
    if (cell.flapping) stats.flapping += 1;
  }
  return stats;
}

function plural(count: number, word: string): string {
  return `${String(count)} ${word}${count === 1 ? '' : 's'}`;
}

/**
 * What a screen reader hears for the whole bar (after its name and "last 7 days").
 * A node's bar leads with the node's availability; a component's bar has no
 * availability of its own (slots carry only the node's down time), so it counts its
 * own slots: down, flapping, and unknown (for xp: the agent was not running).
 */
export function barSummary(stats: BarStats, component?: ComponentName): string {
  const parts: string[] = [];
  if (!component)
    parts.push(stats.availability === null ? 'no data' : `${formatAvailability(stats.availability)} available`);
  if (stats.down) parts.push(`${plural(stats.down, 'slot')} down`);
  if (stats.degraded) parts.push(`${plural(stats.degraded, 'slot')} degraded`);
  if (stats.flapping) parts.push(`${String(stats.flapping)} flapping`);
  if (stats.unknown)
    parts.push(
      component === 'xp' ? `${plural(stats.unknown, 'slot')} not running` : `${String(stats.unknown)} unknown`,
    );
  if (component && !stats.down) parts.unshift('never down');
  return parts.join(', ');
}

/** The window the bar covers, for the availability figure's tooltip. */
export function windowText(slots: readonly Slot[]): string {
  const first = parseTime(slots[0]?.slot_start);
  const last = parseTime(slots.at(-1)?.slot_start);
  if (first === null || last === null) return 'the last 7 days';
  return formatRange(first, last + SLOT_SECS * 1000);
}

export interface SlotFacts {
  index: number;
  range: string;
  inProgress: boolean;
  summary: Summary;
  /** Each component's state in the slot, as shown: `value` for the badge, `text` for its word. */
  components: { name: ComponentName; value: ComponentStatus; text: string }[];
  down: string;
  observed: string;
  changes: number;
  flapping: boolean;
}

/** Everything the tooltip shows about one slot; `index` counts from the oldest. */
export function slotFacts(slots: readonly Slot[], index: number): SlotFacts | null {
  const slot = slots[index];
  if (!slot) return null;
  const start = parseTime(slot.slot_start);
  return {
    index,
    range: start === null ? slot.slot_start : formatRange(start, start + SLOT_SECS * 1000),
    inProgress: index === slots.length - 1,
    summary: slot.summary,
    components: COMPONENTS.map((name) => ({ name, ...slotComponentState(name, slot[name]) })),
    down: formatDuration(slot.down_secs),
    observed: formatDuration(slot.observed_secs),
    changes: slot.changes,
    flapping: slot.changes >= FLAPPING_CHANGES,
  };
}

/** The one-line form of a slot's facts: the focused slot's text for a screen reader. */
export function slotText(facts: SlotFacts): string {
  const states = facts.components.map(({ name, text }) => `${name} ${text}`).join(', ');
  return [
    `${facts.range}${facts.inProgress ? ' (in progress)' : ''}: ${facts.summary}`,
    states,
    `down ${facts.down} of ${facts.observed} observed`,
    `${plural(facts.changes, 'change')}${facts.flapping ? ' (flapping)' : ''}`,
  ].join('; ');
}
