/**
 * The thin I/O shell around the stream reducer: read a node's SSE stream with
 * `fetch` (so the bearer header can be sent) and `eventsource-parser`, and keep it
 * open — reconnect with backoff (1 s doubling to 30 s), reconnect when nothing at
 * all (not even a keepalive comment) arrived for 45 s, stop for good on 401/404.
 */
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { ApiError } from './client';
import { parseEvent, parseHello, parseLagged, parseNodeDetail, parseNodeError } from './schemas';
import type { StreamAction, StreamFrame } from './stream-reducer';

export const BACKOFF_INITIAL_MS = 1_000;
export const BACKOFF_MAX_MS = 30_000;
/** The server sends a keepalive at least every 15 s; three missed ones mean a dead connection. */
export const WATCHDOG_MS = 45_000;

/** One frame of the contract as an action, or null for a frame this page does not use or cannot read. */
export function decodeFrame(message: EventSourceMessage): StreamFrame | null {
  try {
    const data: unknown = JSON.parse(message.data);
    switch (message.event) {
      case 'hello':
        return { type: 'hello', hello: parseHello(data) };
      case 'snapshot':
        return { type: 'snapshot', detail: parseNodeDetail(data) };
      case 'event': {
        const event = parseEvent(data);
        return event && { type: 'event', event };
      }
      case 'lagged':
        return { type: 'lagged', lagged: parseLagged(data) };
      case 'node_error':
        return { type: 'node_error', nodeError: parseNodeError(data) };
      default:
        return null; // a frame name from a newer node
    }
  } catch {
    // A frame we cannot read is skipped; the next snapshot brings the state back.
    return null;
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done);
  });
}

/** Whether the loop was told to stop (a function: TypeScript would otherwise keep
 * the loop condition's narrowing of `signal.aborted` across the awaits below). */
function stopped(signal: AbortSignal): boolean {
  return signal.aborted;
}

const WATCHDOG_REASON = `nothing received for ${String(WATCHDOG_MS / 1000)} s`;

function reasonOf(error: unknown): string {
  if (error instanceof ApiError)
    return error.status ? `${error.message} (HTTP ${String(error.status)})` : error.message;
  return error instanceof Error ? error.message : String(error);
}

export interface StreamLoopOptions {
  /** Opens the stream; rejects with `ApiError` on a non-2xx answer. */
  open: (signal: AbortSignal) => Promise<Response>;
  dispatch: (action: StreamAction) => void;
  /** Aborting it ends the loop (the page went away). */
  signal: AbortSignal;
}

/** Reads one connection to its end. Resolves with why it ended; rejects on errors. */
async function readConnection(
  response: Response,
  handlers: { onBytes: () => void; onFrame: (frame: StreamFrame) => void },
  attempt: AbortController,
): Promise<string> {
  const body = response.body;
  if (!body) return 'the answer had no body';
  const reader = body.getReader();
  // A body we did not get from fetch (or a stalled one) ignores the fetch signal.
  const cancel = () => void reader.cancel().catch(() => undefined);
  attempt.signal.addEventListener('abort', cancel);
  const decoder = new TextDecoder();
  const parser = createParser({
    onEvent: (message) => {
      const frame = decodeFrame(message);
      if (frame) handlers.onFrame(frame);
    },
  });
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done || attempt.signal.aborted) return 'the stream ended';
      // Any bytes prove the connection alive: a keepalive comment is no frame.
      handlers.onBytes();
      parser.feed(decoder.decode(value, { stream: true }));
    }
  } finally {
    attempt.signal.removeEventListener('abort', cancel);
  }
}

export async function runEventStream({ open, dispatch, signal }: StreamLoopOptions): Promise<void> {
  let delay = BACKOFF_INITIAL_MS;
  while (!stopped(signal)) {
    dispatch({ type: 'connecting' });
    const attempt = new AbortController();
    const stop = () => {
      attempt.abort();
    };
    signal.addEventListener('abort', stop);
    let watchdog: ReturnType<typeof setTimeout> | undefined;
    const arm = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => {
        attempt.abort(WATCHDOG_REASON);
      }, WATCHDOG_MS);
    };
    let reason: string;
    try {
      arm();
      const response = await open(attempt.signal);
      arm();
      reason = await readConnection(
        response,
        {
          onBytes: arm,
          onFrame: (frame) => {
            if (frame.type === 'hello') delay = BACKOFF_INITIAL_MS; // a working connection resets the backoff
            dispatch(frame);
          },
        },
        attempt,
      );
    } catch (error) {
      if (stopped(signal)) return;
      if (error instanceof ApiError && error.status === 401) {
        dispatch({ type: 'unauthorized' });
        return;
      }
      if (error instanceof ApiError && error.status === 404) {
        dispatch({ type: 'failed', reason: error.message });
        return;
      }
      reason = reasonOf(error);
    } finally {
      clearTimeout(watchdog);
      signal.removeEventListener('abort', stop);
      attempt.abort();
    }
    if (stopped(signal)) return;
    if (attempt.signal.reason === WATCHDOG_REASON) reason = WATCHDOG_REASON;
    dispatch({ type: 'disconnected', reason });
    await sleep(delay, signal);
    delay = Math.min(delay * 2, BACKOFF_MAX_MS);
  }
}
