/**
 * A `Transport` over in-memory payloads: the seam that lets stories and tests run
 * the real pages (parsing, queries, the stream loop) without a server.
 */
import type { Transport } from '../api/client';

export type MockFrame = { event: string; data: unknown; id?: string } | { comment: string };

export interface MockApi {
  /** Body of `api/admin/nodes`. */
  nodes?: unknown;
  /** Body of `api/admin/nodes/runtime`. */
  runtime?: unknown;
  /** Bodies of `api/admin/nodes/{id}/runtime`; an id without one answers 404. */
  details?: Record<string, unknown>;
  /** Frames each node's stream sends on connect; the stream then stays open. Absent: 503. */
  streams?: Record<string, MockFrame[]>;
  /** When set, a request without this bearer token answers 401. */
  token?: string;
  /** Requests to these paths (prefix match) never answer: a loading state. */
  pending?: string[];
}

export function encodeFrames(frames: readonly MockFrame[]): string {
  return frames
    .map((frame) => {
      if ('comment' in frame) return `: ${frame.comment}\n\n`;
      const id = frame.id ? `id: ${frame.id}\n` : '';
      return `event: ${frame.event}\n${id}data: ${JSON.stringify(frame.data)}\n\n`;
    })
    .join('');
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
}

function error(status: number, code: string, message: string): Response {
  return json(status, { error: { code, message } });
}

/** A stream that sends `text` and then stays open until the reader cancels it. */
function openStream(text: string): Response {
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new TextEncoder().encode(text));
    },
  });
  return new Response(body, { status: 200, headers: { 'Content-Type': 'text/event-stream' } });
}

export function mockTransport(api: MockApi, getToken: () => string | null = () => null): Transport {
  return (path, { signal }) => {
    if (api.pending?.some((prefix) => path.startsWith(prefix))) {
      return new Promise((_, reject) => {
        signal?.addEventListener('abort', () => {
          reject(new DOMException('aborted', 'AbortError'));
        });
      });
    }
    if (api.token !== undefined && getToken() !== api.token) {
      return Promise.resolve(error(401, 'unauthorized', 'missing or wrong bearer token'));
    }
    const url = new URL(path, 'http://mock/');
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    // parts: api, admin, nodes, [id], [runtime], [events]
    const [, , , id, runtime, events] = parts;
    if (path === 'api/admin/nodes') return Promise.resolve(json(200, api.nodes ?? { items: [] }));
    if (id === 'runtime' && runtime === undefined)
      return Promise.resolve(json(200, api.runtime ?? { partial: false, unreachable_nodes: [], items: [] }));
    if (id !== undefined && runtime === 'runtime' && events === undefined) {
      const detail = api.details?.[id];
      return Promise.resolve(
        detail === undefined ? error(404, 'not_found', `node not found: ${id}`) : json(200, detail),
      );
    }
    if (id !== undefined && runtime === 'runtime' && events === 'events') {
      const frames = api.streams?.[id];
      if (frames) return Promise.resolve(openStream(encodeFrames(frames)));
      if (api.details?.[id] === undefined) return Promise.resolve(error(404, 'not_found', `node not found: ${id}`));
      return Promise.resolve(error(503, 'unavailable', 'too many event streams'));
    }
    return Promise.resolve(error(404, 'not_found', `no route: ${path}`));
  };
}
