/**
 * The HTTP edge: a `Transport` (the one seam tests and stories replace) and the
 * calls the pages make. Every path is relative to the document, so the UI works
 * unchanged under a reverse proxy's sub-path; the token travels only in a header.
 */
import {
  parseNodeDetail,
  parseNodeMetaList,
  parseRuntimeList,
  type NodeDetail,
  type NodeMeta,
  type RuntimeList,
} from './schemas';

export type Transport = (path: string, init: { signal?: AbortSignal | undefined; accept: string }) => Promise<Response>;

/** The server said no (`status` > 0), or the request never got an answer (`status` 0). */
export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export function isUnauthorized(error: unknown): boolean {
  return error instanceof ApiError && error.status === 401;
}

/** The browser's transport: `fetch` against `document.baseURI`, with the bearer token if one is known. */
export function httpTransport(getToken: () => string | null): Transport {
  return (path, { signal, accept }) => {
    const headers = new Headers({ Accept: accept });
    const token = getToken();
    if (token) headers.set('Authorization', `Bearer ${token}`);
    return fetch(new URL(path, document.baseURI), { headers, signal: signal ?? null, cache: 'no-store' });
  };
}

async function errorFrom(response: Response): Promise<ApiError> {
  let code = 'http_error';
  let message = `HTTP ${String(response.status)}`;
  try {
    const body: unknown = await response.json();
    const error = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
    if (typeof error?.code === 'string') code = error.code;
    if (typeof error?.message === 'string') message = error.message;
  } catch {
    // Not the contract's error body (a proxy's HTML page, say): the status says enough.
  }
  return new ApiError(response.status, code, message);
}

/** Sends a request; a non-2xx answer or a network failure becomes an `ApiError`. */
export async function request(
  transport: Transport,
  path: string,
  signal: AbortSignal | undefined,
  accept = 'application/json',
): Promise<Response> {
  let response: Response;
  try {
    response = await transport(path, { signal, accept });
  } catch (error) {
    if (signal?.aborted) throw error;
    throw new ApiError(0, 'network', error instanceof Error ? error.message : String(error));
  }
  if (!response.ok) throw await errorFrom(response);
  return response;
}

async function getJson(transport: Transport, path: string, signal: AbortSignal | undefined): Promise<unknown> {
  return (await request(transport, path, signal)).json();
}

const nodePath = (nodeId: string) => `api/admin/nodes/${encodeURIComponent(nodeId)}`;

export async function fetchNodeMeta(transport: Transport, signal?: AbortSignal): Promise<NodeMeta[]> {
  return parseNodeMetaList(await getJson(transport, 'api/admin/nodes', signal));
}

export async function fetchRuntimeList(transport: Transport, signal?: AbortSignal): Promise<RuntimeList> {
  return parseRuntimeList(await getJson(transport, 'api/admin/nodes/runtime', signal));
}

export async function fetchNodeDetail(
  transport: Transport,
  nodeId: string,
  eventsLimit: number,
  signal?: AbortSignal,
): Promise<NodeDetail> {
  const path = `${nodePath(nodeId)}/runtime?events_limit=${String(eventsLimit)}`;
  return parseNodeDetail(await getJson(transport, path, signal));
}

export function openNodeEvents(
  transport: Transport,
  nodeId: string,
  eventsLimit: number,
  signal: AbortSignal,
): Promise<Response> {
  const path = `${nodePath(nodeId)}/runtime/events?events_limit=${String(eventsLimit)}`;
  return request(transport, path, signal, 'text/event-stream');
}
