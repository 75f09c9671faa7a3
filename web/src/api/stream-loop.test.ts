import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { makeDetail, makeEvents, makeItem } from '../mocks/builders';
import { encodeFrames, type MockFrame } from '../mocks/transport';
import { ApiError } from './client';
import { BACKOFF_INITIAL_MS, BACKOFF_MAX_MS, WATCHDOG_MS, decodeFrame, runEventStream } from './stream-loop';
import type { StreamAction } from './stream-reducer';

/** A stream the test writes to, as the server would. */
function serverStream() {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const cancelled = vi.fn();
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
    },
    cancel: cancelled,
  });
  return {
    response: new Response(body, { status: 200 }),
    send(frames: MockFrame[]) {
      controller.enqueue(new TextEncoder().encode(encodeFrames(frames)));
    },
    close() {
      controller.close();
    },
    cancelled,
  };
}

const hello: MockFrame = { event: 'hello', data: { node_id: 'node-a', connected_at: '2026-11-30T04:53:50Z' } };
const snapshot: MockFrame = { event: 'snapshot', data: makeDetail(makeItem({ id: 'node-a' }), makeEvents(2)) };
const unavailable = () => Promise.reject(new ApiError(503, 'unavailable', 'too many event streams'));

function start(open: (signal: AbortSignal) => Promise<Response>) {
  const actions: StreamAction[] = [];
  const opened: number[] = [];
  const controller = new AbortController();
  const done = runEventStream({
    open: (signal) => {
      opened.push(Date.now());
      return open(signal);
    },
    dispatch: (action) => {
      actions.push(action);
    },
    signal: controller.signal,
  });
  const types = () => actions.map((action) => action.type);
  const stop = () => {
    controller.abort();
  };
  return { actions, types, opened, done, stop };
}

beforeEach(() => {
  vi.useFakeTimers({ now: 0 });
});

afterEach(() => {
  vi.useRealTimers();
});

describe('stream loop', () => {
  it('dispatches the frames it reads', async () => {
    const server = serverStream();
    const loop = start(() => Promise.resolve(server.response));
    server.send([
      hello,
      snapshot,
      { event: 'event', id: 'x', data: makeEvents(1)[0] },
      { event: 'lagged', data: { node_id: 'node-a', missed: 3 } },
    ]);
    server.send([{ event: 'node_error', data: { node_id: 'node-a', error: 'timed out' } }]);
    await vi.advanceTimersByTimeAsync(0);
    expect(loop.types()).toEqual(['connecting', 'hello', 'snapshot', 'event', 'lagged', 'node_error']);
    loop.stop();
    await loop.done;
  });

  it('backs off 1 s, doubling to 30 s, between failed attempts', async () => {
    const loop = start(unavailable);
    await vi.advanceTimersByTimeAsync(120_000);
    expect(loop.opened).toEqual([0, 1_000, 3_000, 7_000, 15_000, 31_000, 61_000, 91_000]);
    expect(loop.actions[1]).toEqual({ type: 'disconnected', reason: 'too many event streams (HTTP 503)' });
    expect(BACKOFF_INITIAL_MS).toBe(1_000);
    expect(BACKOFF_MAX_MS).toBe(30_000);
    loop.stop();
    await loop.done;
  });

  it('starts the backoff again after a connection that worked', async () => {
    let attempt = 0;
    const loop = start(() => {
      attempt += 1;
      if (attempt !== 3) return unavailable();
      const server = serverStream();
      server.send([hello]);
      server.close();
      return Promise.resolve(server.response);
    });
    await vi.advanceTimersByTimeAsync(9_000);
    // Failed at 0 and 1 s; connected at 3 s and the stream ended; so 1 s again, then 2 s, 4 s.
    expect(loop.opened).toEqual([0, 1_000, 3_000, 4_000, 6_000]);
    expect(loop.actions).toContainEqual({ type: 'disconnected', reason: 'the stream ended' });
    loop.stop();
    await loop.done;
  });

  it('reconnects when nothing arrived for 45 s', async () => {
    const servers: ReturnType<typeof serverStream>[] = [];
    const loop = start(() => {
      const server = serverStream();
      servers.push(server);
      server.send([hello, snapshot]);
      return Promise.resolve(server.response);
    });
    await vi.advanceTimersByTimeAsync(WATCHDOG_MS - 1);
    expect(loop.opened).toEqual([0]);
    await vi.advanceTimersByTimeAsync(1);
    expect(loop.actions).toContainEqual({ type: 'disconnected', reason: 'nothing received for 45 s' });
    expect(servers[0]?.cancelled).toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(BACKOFF_INITIAL_MS);
    expect(loop.opened).toEqual([0, WATCHDOG_MS + BACKOFF_INITIAL_MS]);
    loop.stop();
    await loop.done;
  });

  it('counts a keepalive comment as a sign of life', async () => {
    const server = serverStream();
    const loop = start(() => Promise.resolve(server.response));
    server.send([hello, snapshot]);
    for (let second = 0; second < 200; second += 15) {
      await vi.advanceTimersByTimeAsync(15_000);
      server.send([{ comment: 'keepalive' }]);
    }
    expect(loop.opened).toEqual([0]);
    expect(loop.types()).not.toContain('disconnected');
    loop.stop();
    await loop.done;
  });

  it('stops and asks for the token on 401', async () => {
    const loop = start(() => Promise.reject(new ApiError(401, 'unauthorized', 'missing or wrong bearer token')));
    await vi.advanceTimersByTimeAsync(60_000);
    await loop.done;
    expect(loop.types()).toEqual(['connecting', 'unauthorized']);
    expect(loop.opened).toHaveLength(1);
  });

  it('stops for good on 404', async () => {
    const loop = start(() => Promise.reject(new ApiError(404, 'not_found', 'node not found: x')));
    await loop.done;
    expect(loop.actions.at(-1)).toEqual({ type: 'failed', reason: 'node not found: x' });
  });

  it('ends and releases the connection when aborted', async () => {
    const server = serverStream();
    const loop = start(() => Promise.resolve(server.response));
    server.send([hello]);
    await vi.advanceTimersByTimeAsync(10);
    loop.stop();
    await loop.done;
    expect(server.cancelled).toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(120_000);
    expect(loop.opened).toHaveLength(1);
    expect(loop.types()).not.toContain('disconnected');
  });
});

describe('decodeFrame', () => {
  const message = (event: string, data: string) => ({ event, data, id: undefined });

  it('skips frames from a newer node and frames it cannot read', () => {
    expect(decodeFrame(message('message', ''))).toBeNull();
    expect(decodeFrame(message('metrics', '{}'))).toBeNull();
    expect(decodeFrame(message('snapshot', '{"node_id":'))).toBeNull();
    expect(decodeFrame(message('hello', '{"node_id":"a"}'))).toBeNull();
  });

  it('reads a snapshot as a node detail', () => {
    const frame = decodeFrame(message('snapshot', JSON.stringify(snapshot.data)));
    expect(frame?.type === 'snapshot' && frame.detail.events).toHaveLength(2);
  });
});
