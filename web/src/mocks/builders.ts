/**
 * Builders of contract payloads (CONTRACT.md §3) for stories and tests. They make
 * the wire JSON, not parsed values, so everything shown from them goes through the
 * same parsing as a real answer. Deterministic: the same call gives the same data.
 */
import type {
  ComponentState,
  ComponentStatus,
  NodeMeta,
  RuntimeEvent,
  RuntimeItem,
  Slot,
  Summary,
} from '../api/schemas';
import { nth } from '../test/nth';

/** The mocks' "now": mid-slot, so the slot in progress is partly observed. */
export const MOCK_NOW = Date.parse('2026-11-30T04:47:00Z');
const SLOT_COUNT = 336;
const SLOT_MS = 1_800_000;

const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');

type Supervised = 'xray' | 'cloudflared';

/** The contract's summary rule over the enabled supervised components. */
function summarize(states: Record<Supervised, ComponentStatus>): Summary {
  const enabled = [states.xray, ...(states.cloudflared === 'disabled' ? [] : [states.cloudflared])];
  if (enabled.every((state) => state === 'up')) return 'up';
  if (enabled.every((state) => state === 'down')) return 'down';
  if (enabled.some((state) => state === 'down')) return 'degraded';
  return 'unknown';
}

export interface SlotOptions {
  now?: number;
  cloudflared?: boolean;
  /** Per slot index (0 = oldest, 335 = in progress): fields to change. */
  patches?: Record<number, Partial<Slot>>;
}

/** 336 slots ending with the one in progress at `now`; all up unless patched. */
export function makeSlots({ now = MOCK_NOW, cloudflared = true, patches = {} }: SlotOptions = {}): Slot[] {
  const current = Math.floor(now / SLOT_MS) * SLOT_MS;
  return Array.from({ length: SLOT_COUNT }, (_, index) => {
    const start = current - (SLOT_COUNT - 1 - index) * SLOT_MS;
    const slot: Slot = {
      slot_start: iso(start),
      summary: 'up',
      xp: 'up',
      xray: 'up',
      cloudflared: cloudflared ? 'up' : 'disabled',
      observed_secs: index === SLOT_COUNT - 1 ? Math.round((now - start) / 1000) : 1800,
      down_secs: 0,
      changes: 0,
    };
    const patch = patches[index];
    if (!patch) return slot;
    const patched = { ...slot, ...patch };
    return patch.summary ? patched : { ...patched, summary: summarize(patched) };
  });
}

/** Patches: xray down for `secs` of each slot in `[from, from + length)`. */
export function xrayDown(from: number, length: number, secs = 1800, changes = 2): Record<number, Partial<Slot>> {
  return Object.fromEntries(
    Array.from({ length }, (_, offset) => [from + offset, { xray: 'down', down_secs: secs, changes }] as const),
  );
}

/** Patches: the agent did not run, nothing observed. */
export function notObserved(from: number, length: number): Record<number, Partial<Slot>> {
  const unknown = {
    summary: 'unknown',
    xp: 'unknown',
    xray: 'unknown',
    cloudflared: 'unknown',
    observed_secs: 0,
    down_secs: 0,
    changes: 0,
  } as const;
  return Object.fromEntries(Array.from({ length }, (_, offset) => [from + offset, unknown] as const));
}

export function makeComponent(
  component: ComponentState['component'],
  status: ComponentStatus,
  now = MOCK_NOW,
): ComponentState {
  const checked = status === 'disabled' ? null : iso(now - 1_000);
  const down = status === 'down';
  return {
    component,
    status,
    checked_at: checked,
    down_since: down ? iso(now - 7 * 60_000) : null,
    consecutive_failures: down ? 12 : 0,
    restart_attempts: down ? 2 : 0,
    last_restart_at: component === 'xp' || status === 'disabled' ? null : iso(now - 2 * 86_400_000),
    last_restart_failed_at: down ? iso(now - 60_000) : null,
    last_error: down ? 'connection refused' : null,
  };
}

export interface ItemOptions extends SlotOptions {
  id: string;
  name?: string;
  xray?: ComponentStatus;
  cloudflaredStatus?: ComponentStatus;
  slots?: Slot[];
}

export function makeItem({
  id,
  name = id,
  xray = 'up',
  cloudflaredStatus,
  slots,
  ...slotOptions
}: ItemOptions): RuntimeItem {
  const cloudflared = cloudflaredStatus ?? (slotOptions.cloudflared === false ? 'disabled' : 'up');
  const now = slotOptions.now ?? MOCK_NOW;
  return {
    node_id: id,
    node_name: name,
    summary: summarize({ xray, cloudflared }),
    components: [
      makeComponent('xp', 'up', now),
      makeComponent('xray', xray, now),
      makeComponent('cloudflared', cloudflared, now),
    ],
    recent_slots: slots ?? makeSlots({ ...slotOptions, cloudflared: cloudflared !== 'disabled' }),
  };
}

/** The row the fan-out makes for a node that did not answer. */
export function makeUnreachableItem(
  id: string,
  name: string,
  error: string,
  slots = makeSlots({ patches: notObserved(320, 16) }),
): RuntimeItem {
  return {
    node_id: id,
    node_name: name,
    summary: 'unknown',
    components: (['xp', 'xray', 'cloudflared'] as const).map((component) => ({
      ...makeComponent(component, 'unknown'),
      checked_at: null,
      last_restart_at: null,
    })),
    recent_slots: slots,
    error,
    error_kind: error.includes('timed out') ? 'timeout' : /refused|reset/.test(error) ? 'connection' : 'unknown',
  };
}

export function makeMeta(items: readonly RuntimeItem[]): { items: NodeMeta[] } {
  return {
    items: items.map((item) => ({
      node_id: item.node_id,
      node_name: item.node_name,
      api_base_url: `https://${item.node_id}.example.net:62416`,
      access_host: `${item.node_id}.example.com`,
    })),
  };
}

export function makeRuntimeList(items: readonly RuntimeItem[]) {
  const unreachable = items
    .filter((item) => item.error)
    .map((item) => item.node_id)
    .sort();
  return { partial: unreachable.length > 0, unreachable_nodes: unreachable, items };
}

const EVENT_CYCLE: Omit<RuntimeEvent, 'event_id' | 'occurred_at'>[] = [
  {
    component: 'xray',
    kind: 'status_changed',
    level: 'warning',
    message: 'xray status changed: up -> down (connection refused)',
    status_from: 'up',
    status_to: 'down',
  },
  {
    component: 'xray',
    kind: 'restart_requested',
    level: 'info',
    message: 'xray restart requested via systemd (attempt 1)',
    status_from: null,
    status_to: null,
  },
  {
    component: 'xray',
    kind: 'restart_succeeded',
    level: 'info',
    message: 'xray restart command succeeded',
    status_from: null,
    status_to: null,
  },
  {
    component: 'xray',
    kind: 'status_changed',
    level: 'info',
    message: 'xray status changed: down -> up',
    status_from: 'down',
    status_to: 'up',
  },
  {
    component: 'cloudflared',
    kind: 'status_changed',
    level: 'warning',
    message: 'cloudflared status changed: up -> down (GET /ready: 503)',
    status_from: 'up',
    status_to: 'down',
  },
  {
    component: 'cloudflared',
    kind: 'restart_failed',
    level: 'warning',
    message: 'cloudflared restart failed: exit 1',
    status_from: null,
    status_to: null,
  },
  {
    component: 'cloudflared',
    kind: 'status_changed',
    level: 'info',
    message: 'cloudflared status changed: down -> up',
    status_from: 'down',
    status_to: 'up',
  },
  {
    component: 'xp',
    kind: 'status_changed',
    level: 'info',
    message: 'xp status changed: down -> up (agent started; previous run ended cleanly)',
    status_from: 'down',
    status_to: 'up',
  },
];

/** An event id that sorts by time, like the agent's ULIDs. */
function eventId(ms: number, n: number): string {
  return `01MOCK${ms.toString(36).toUpperCase().padStart(10, '0')}${n.toString(36).toUpperCase().padStart(4, '0')}`;
}

export function makeEvent(n: number, at: number): RuntimeEvent {
  const template = nth(EVENT_CYCLE, n % EVENT_CYCLE.length);
  return { ...template, event_id: eventId(at, n), occurred_at: new Date(at).toISOString() };
}

/** `count` events, newest first, one every `everyMs` back from `now`. */
export function makeEvents(count: number, { now = MOCK_NOW, everyMs = 11 * 60_000 } = {}): RuntimeEvent[] {
  return Array.from({ length: count }, (_, index) => makeEvent(count - index, now - 5_000 - index * everyMs));
}

export function makeDetail(item: RuntimeItem, events: RuntimeEvent[] = makeEvents(30)) {
  const { error: _error, ...rest } = item;
  return { ...rest, events };
}
