import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  ApiError,
  fetchNodeDetail,
  fetchRuntimeList,
  httpTransport,
  openNodeEvents,
  request,
  type Transport,
} from './client';

const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status });

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('http transport', () => {
  it('resolves paths against the document, so a reverse proxy sub-path is kept', async () => {
    window.history.replaceState(null, '', '/xp/#/nodes/node-a');
    const fetch = vi.fn(() => Promise.resolve(json(200, { items: [] })));
    vi.stubGlobal('fetch', fetch);
    await fetchRuntimeList(httpTransport(() => null));
    const [url, init] = fetch.mock.calls[0] as unknown as [URL, RequestInit];
    expect(String(url)).toBe('http://localhost:3000/xp/api/admin/nodes/runtime');
    expect(new Headers(init.headers).has('Authorization')).toBe(false);
  });

  it('sends the token as a bearer header only', async () => {
    window.history.replaceState(null, '', '/');
    const fetch = vi.fn(() => Promise.resolve(json(200, { items: [] })));
    vi.stubGlobal('fetch', fetch);
    await fetchRuntimeList(httpTransport(() => 's3cret'));
    const [url, init] = fetch.mock.calls[0] as unknown as [URL, RequestInit];
    expect(String(url)).not.toContain('s3cret');
    expect(new Headers(init.headers).get('Authorization')).toBe('Bearer s3cret');
  });
});

describe('requests', () => {
  it("turn the contract's error body into an ApiError", async () => {
    const transport: Transport = () =>
      Promise.resolve(json(503, { error: { code: 'unavailable', message: 'node-b: timed out' } }));
    await expect(fetchNodeDetail(transport, 'node-b', 500)).rejects.toEqual(
      new ApiError(503, 'unavailable', 'node-b: timed out'),
    );
  });

  it('turn any other failure into an ApiError too', async () => {
    const html: Transport = () => Promise.resolve(new Response('<h1>Bad gateway</h1>', { status: 502 }));
    await expect(request(html, 'api/x', undefined)).rejects.toMatchObject({ status: 502, message: 'HTTP 502' });
    const offline: Transport = () => Promise.reject(new TypeError('Failed to fetch'));
    await expect(request(offline, 'api/x', undefined)).rejects.toMatchObject({
      status: 0,
      code: 'network',
      message: 'Failed to fetch',
    });
  });

  it('build the contract paths with events_limit', async () => {
    const paths: string[] = [];
    const transport: Transport = (path) => {
      paths.push(path);
      return Promise.resolve(new Response('', { status: 200 }));
    };
    await openNodeEvents(transport, 'node b', 500, new AbortController().signal);
    expect(paths).toEqual(['api/admin/nodes/node%20b/runtime/events?events_limit=500']);
  });
});
