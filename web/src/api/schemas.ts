/**
 * The contract's JSON (CONTRACT.md §3) as zod schemas: the one source of the
 * payload types. Parsing happens here, at the edge.
 *
 * Versioning rules (SPEC point 12): every enum falls back to "unknown" so a page
 * keeps working against a newer node; extra fields are dropped; a missing required
 * field fails only the node item (or event) that lacks it, never the whole page.
 */
import { z } from 'zod/mini';

function lenientEnum<const T extends readonly string[]>(values: T) {
  return z.catch(z.enum([...values, 'unknown']), 'unknown' as const);
}

export const COMPONENTS = ['xp', 'xray', 'cloudflared'] as const;
export const ERROR_KINDS = ['timeout', 'connection', 'tls', 'http_status', 'bad_answer', 'config'] as const;

const componentName = lenientEnum(COMPONENTS);
const summaryValue = lenientEnum(['up', 'degraded', 'down']);
const componentStatus = lenientEnum(['disabled', 'up', 'down']);
const eventKind = lenientEnum([
  'status_changed',
  'restart_requested',
  'restart_succeeded',
  'restart_failed',
  'state_reset',
  // An addition of the agent to the contract's list: the wall clock is behind the
  // state file or stepped while the agent ran (docs/state-file.md).
  'clock_warning',
]);
const eventLevel = lenientEnum(['info', 'warning']);

const timestamp = z.string();
const nullableTimestamp = z.nullable(timestamp);
const count = z.number();

const componentSchema = z.object({
  component: componentName,
  status: componentStatus,
  checked_at: nullableTimestamp,
  down_since: nullableTimestamp,
  consecutive_failures: count,
  restart_attempts: count,
  last_restart_at: nullableTimestamp,
  last_restart_failed_at: nullableTimestamp,
  // Not in the v1 contract; current agents send it and older ones may not.
  last_error: z.optional(z.nullable(z.string())),
  // v1.1: set only while a down component is recovering (missing = not recovering).
  // Unreadable, it is dropped rather than failing the node's whole item.
  recovering: z.catch(z.optional(z.nullable(z.object({ successes: count, needed: count }))), undefined),
});

const slotSchema = z.object({
  slot_start: timestamp,
  summary: summaryValue,
  xp: componentStatus,
  xray: componentStatus,
  cloudflared: componentStatus,
  observed_secs: count,
  down_secs: count,
  changes: count,
});

const runtimeItemSchema = z.object({
  node_id: z.string(),
  node_name: z.string(),
  summary: summaryValue,
  components: z.array(componentSchema),
  recent_slots: z.array(slotSchema),
  // Set only on the row of a node that did not answer the fan-out.
  error: z.optional(z.nullable(z.string())),
  // An addition of the agent to the contract: which kind of failure `error` is.
  error_kind: z.optional(z.nullable(lenientEnum(ERROR_KINDS))),
});

const eventSchema = z.object({
  event_id: z.string(),
  occurred_at: timestamp,
  component: componentName,
  kind: eventKind,
  level: eventLevel,
  message: z.string(),
  status_from: z.nullable(componentStatus),
  status_to: z.nullable(componentStatus),
});

const nodeMetaSchema = z.object({
  node_id: z.string(),
  node_name: z.string(),
  api_base_url: z.optional(z.string()),
  access_host: z.optional(z.nullable(z.string())),
});

const envelope = z.object({ items: z.array(z.unknown()) });

const runtimeListEnvelope = z.object({
  partial: z.catch(z.boolean(), false),
  unreachable_nodes: z.catch(z.array(z.string()), []),
  items: z.array(z.unknown()),
});

const detailEnvelope = z.object({ events: z.array(z.unknown()) });

const helloSchema = z.object({ node_id: z.string(), connected_at: timestamp });
const nodeErrorSchema = z.object({ node_id: z.string(), error: z.string() });
const laggedSchema = z.object({ node_id: z.string(), missed: count });

export type ComponentName = z.infer<typeof componentName>;
export type Summary = z.infer<typeof summaryValue>;
export type ComponentStatus = z.infer<typeof componentStatus>;
export type ComponentState = z.infer<typeof componentSchema>;
export type Recovery = NonNullable<ComponentState['recovering']>;
export type Slot = z.infer<typeof slotSchema>;
export type RuntimeItem = z.infer<typeof runtimeItemSchema>;
export type RuntimeEvent = z.infer<typeof eventSchema>;
export type NodeMeta = z.infer<typeof nodeMetaSchema>;
export type Hello = z.infer<typeof helloSchema>;
export type NodeError = z.infer<typeof nodeErrorSchema>;
export type Lagged = z.infer<typeof laggedSchema>;

/** A list row that could not be read: what we know of the node, and why. */
export interface InvalidItem {
  node_id: string | null;
  node_name: string | null;
  problem: string;
}

export type RuntimeRow = { ok: true; item: RuntimeItem } | { ok: false; invalid: InvalidItem };

export interface RuntimeList {
  partial: boolean;
  unreachable_nodes: string[];
  rows: RuntimeRow[];
}

export interface NodeDetail extends RuntimeItem {
  /** Newest first; an event that cannot be read is left out. */
  events: RuntimeEvent[];
}

/** Thrown when a whole payload is unusable (not the contract's shape at all). */
export class PayloadError extends Error {
  override name = 'PayloadError';
}

function describeIssues(error: z.core.$ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((issue) => `${issue.path.length ? issue.path.join('.') : '(root)'}: ${issue.message}`)
    .join('; ');
}

function parseWhole<T>(schema: z.ZodMiniType<T>, raw: unknown, what: string): T {
  const result = schema.safeParse(raw);
  if (!result.success) throw new PayloadError(`${what}: ${describeIssues(result.error)}`);
  return result.data;
}

function stringField(raw: unknown, key: string): string | null {
  if (typeof raw !== 'object' || raw === null) return null;
  const value = (raw as Record<string, unknown>)[key];
  return typeof value === 'string' ? value : null;
}

function parseRuntimeRow(raw: unknown): RuntimeRow {
  const result = runtimeItemSchema.safeParse(raw);
  if (result.success) return { ok: true, item: result.data };
  return {
    ok: false,
    invalid: {
      node_id: stringField(raw, 'node_id'),
      node_name: stringField(raw, 'node_name'),
      problem: describeIssues(result.error),
    },
  };
}

export function parseRuntimeList(raw: unknown): RuntimeList {
  const list = parseWhole(runtimeListEnvelope, raw, 'runtime list');
  return {
    partial: list.partial,
    unreachable_nodes: list.unreachable_nodes,
    rows: list.items.map(parseRuntimeRow),
  };
}

export function parseNodeMetaList(raw: unknown): NodeMeta[] {
  // Metadata only decorates the rows, so an unreadable entry is simply left out.
  return parseWhole(envelope, raw, 'node list').items.flatMap((item) => {
    const result = nodeMetaSchema.safeParse(item);
    return result.success ? [result.data] : [];
  });
}

export function parseEvent(raw: unknown): RuntimeEvent | null {
  const result = eventSchema.safeParse(raw);
  return result.success ? result.data : null;
}

export function parseNodeDetail(raw: unknown): NodeDetail {
  const item = parseWhole(runtimeItemSchema, raw, 'node detail');
  const { events: rawEvents } = parseWhole(detailEnvelope, raw, 'node detail');
  return { ...item, events: rawEvents.map(parseEvent).filter((event) => event !== null) };
}

export function parseHello(raw: unknown): Hello {
  return parseWhole(helloSchema, raw, 'hello frame');
}

export function parseNodeError(raw: unknown): NodeError {
  return parseWhole(nodeErrorSchema, raw, 'node_error frame');
}

export function parseLagged(raw: unknown): Lagged {
  return parseWhole(laggedSchema, raw, 'lagged frame');
}
