import { act, render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AppProviders } from '../AppProviders';
import type { Transport } from '../api/client';
import { MOCK_NOW, makeDetail, makeEvent, makeEvents, makeItem } from '../mocks/builders';
import { createMockServices } from '../mocks/MockServices';
import { encodeFrames, mockTransport, type MockFrame } from '../mocks/transport';
import { nth } from '../test/nth';
import { NodeDetailsPage } from './NodeDetailsPage';

const item = makeItem({ id: 'node-b', name: 'Frankfurt edge', cloudflared: false });
const detail = makeDetail(item, makeEvents(3));

/** The page against a GET answer from the mocks and a stream the test writes to. */
function renderWithStream(api: { details: Record<string, unknown> } = { details: { 'node-b': detail } }) {
  let controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  const base = mockTransport(api);
  const requests: string[] = [];
  const transport: Transport = (path, init) => {
    requests.push(path);
    if (!path.includes('/events')) return base(path, init);
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        controller = c;
      },
    });
    return Promise.resolve(new Response(body, { status: 200 }));
  };
  const send = async (frames: MockFrame[]) => {
    await act(async () => {
      controller?.enqueue(new TextEncoder().encode(encodeFrames(frames)));
      await new Promise((resolve) => setTimeout(resolve, 0));
    });
  };
  render(
    <AppProviders services={{ ...createMockServices({}), transport }}>
      <NodeDetailsPage nodeId="node-b" />
    </AppProviders>,
  );
  return { send, requests };
}

const pill = () => screen.getByTestId('live-pill');
const cardStatus = (component: string) =>
  screen.getAllByTestId('component-card').find((card) => card.dataset.component === component)?.dataset.status;

describe('node details page', () => {
  it('shows one card per component and the timeline newest first, before the stream answers', async () => {
    renderWithStream();
    const cards = await screen.findAllByTestId('component-card');
    expect(cards.map((card) => [card.dataset.component, card.dataset.status])).toEqual([
      ['xp', 'up'],
      ['xray', 'up'],
      ['cloudflared', 'disabled'],
    ]);
    expect(cards[2]).toHaveTextContent('not enabled on this node');
    expect(
      within(screen.getByTestId('timeline'))
        .getAllByTestId('timeline-item')
        .map((li) => li.dataset.eventId),
    ).toEqual(detail.events.map((event) => event.event_id));
    expect(pill()).toHaveAttribute('data-state', 'connecting');
  });

  it('follows the stream: live, new events first, cards from each snapshot', async () => {
    const { send } = renderWithStream();
    await send([
      { event: 'hello', data: { node_id: 'node-b', connected_at: '2026-11-30T04:53:50Z' } },
      { event: 'snapshot', data: detail },
    ]);
    expect(pill()).toHaveAttribute('data-state', 'live');
    expect(pill()).toHaveTextContent('live');
    expect(screen.queryByTestId('summary-stale')).toBeNull();

    const fault = makeEvent(0, MOCK_NOW + 1_000);
    const down = makeDetail(makeItem({ id: 'node-b', name: 'Frankfurt edge', cloudflared: false, xray: 'down' }), [
      fault,
      ...detail.events,
    ]);
    await send([{ event: 'event', id: fault.event_id, data: fault }]);
    expect(screen.getAllByTestId('timeline-item')[0]).toHaveAttribute('data-event-id', fault.event_id);
    await send([
      { event: 'event', id: fault.event_id, data: fault },
      { event: 'snapshot', data: down },
    ]);
    expect(screen.getAllByTestId('timeline-item')).toHaveLength(4);
    expect(cardStatus('xray')).toBe('down');
    expect(screen.getAllByTestId('component-card')[1]).toHaveTextContent(/Down since.*\(down for \d/);
  });

  it("shows a recovering component's progress from each snapshot", async () => {
    const { send } = renderWithStream();
    const down = makeItem({ id: 'node-b', name: 'Frankfurt edge', cloudflared: false, xray: 'down' });
    const recovering = (successes: number) =>
      makeDetail(
        {
          ...down,
          components: down.components.map((c) =>
            c.component === 'xray' ? { ...c, recovering: { successes, needed: 3 } } : c,
          ),
        },
        detail.events,
      );
    await send([
      { event: 'hello', data: { node_id: 'node-b', connected_at: '2026-11-30T04:53:50Z' } },
      { event: 'snapshot', data: recovering(1) },
    ]);
    expect(cardStatus('xray')).toBe('down');
    expect(screen.getByTestId('recovering')).toHaveTextContent('recovering: 1 of 3 probes passed');
    await send([{ event: 'snapshot', data: recovering(2) }]);
    expect(screen.getByTestId('recovering')).toHaveTextContent('recovering: 2 of 3 probes passed');
    await send([{ event: 'snapshot', data: detail }]);
    expect(cardStatus('xray')).toBe('up');
    expect(screen.queryByTestId('recovering')).toBeNull();
  });

  it('keeps the last snapshot while the node is unreachable, and goes live when it is back', async () => {
    const { send } = renderWithStream();
    await send([
      { event: 'hello', data: { node_id: 'node-b', connected_at: '2026-11-30T04:53:50Z' } },
      { event: 'snapshot', data: detail },
    ]);
    await send([{ event: 'node_error', data: { node_id: 'node-b', error: 'connection refused' } }]);
    expect(pill()).toHaveAttribute('data-state', 'unreachable');
    expect(pill()).toHaveTextContent('node unreachable: connection refused');
    expect(screen.getAllByTestId('component-card')).toHaveLength(3);
    // The kept summary is marked as old, with the time of its newest check.
    const stale = screen.getByTestId('summary-stale');
    expect(stale).toHaveTextContent(/up\s*as of \d{1,2}:\d{2}\s*(AM|PM)? UTC/);
    expect(stale.title).toMatch(/^Not live: as of .*4:46:59.*UTC/);
    await send([{ event: 'snapshot', data: detail }]);
    expect(pill()).toHaveAttribute('data-state', 'live');
    expect(screen.queryByTestId('summary-stale')).toBeNull();
  });

  describe('while live', () => {
    afterEach(() => {
      vi.useRealTimers();
    });

    it("re-reads the node every 15 s so a quiet node's checks move, and stops while not live", async () => {
      // Only the interval is faked: the stream's own timers and promises run as usual.
      vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
      const api = { details: { 'node-b': detail } as Record<string, unknown> };
      const { send, requests } = renderWithStream(api);
      const rereads = () => requests.filter((path) => path.endsWith('/runtime?events_limit=0')).length;
      const failures = () =>
        within(nth(screen.getAllByTestId('component-card'), 1)).getByText('Consecutive failures').nextElementSibling
          ?.textContent;
      const tick = async () => {
        await act(async () => {
          vi.advanceTimersByTime(15_000);
          await new Promise((resolve) => setTimeout(resolve, 0));
        });
      };
      const down = makeItem({ id: 'node-b', name: 'Frankfurt edge', cloudflared: false, xray: 'down' });
      api.details['node-b'] = makeDetail(down, []);
      await send([
        { event: 'hello', data: { node_id: 'node-b', connected_at: '2026-11-30T04:53:50Z' } },
        { event: 'snapshot', data: makeDetail(down, detail.events) },
      ]);
      expect(failures()).toBe('12');
      await tick();
      expect(rereads()).toBe(1); // nothing new at the node yet: the same cards
      expect(failures()).toBe('12');
      const later = makeItem({
        id: 'node-b',
        name: 'Frankfurt edge',
        cloudflared: false,
        xray: 'down',
        now: MOCK_NOW + 15_000,
      });
      api.details['node-b'] = makeDetail(
        {
          ...later,
          components: later.components.map((c) =>
            c.component === 'xray' ? { ...c, consecutive_failures: 27, recovering: { successes: 2, needed: 3 } } : c,
          ),
        },
        [],
      );
      await tick();
      expect(rereads()).toBe(2);
      expect(failures()).toBe('27');
      expect(screen.getByTestId('recovering')).toHaveTextContent('recovering: 2 of 3 probes passed');
      // The re-read carries no events: the timeline stays as the stream made it.
      expect(screen.getAllByTestId('timeline-item')).toHaveLength(3);
      expect(pill()).toHaveAttribute('data-state', 'live');

      await send([{ event: 'node_error', data: { node_id: 'node-b', error: 'connection refused' } }]);
      await tick();
      await tick();
      expect(rereads()).toBe(2);
    });
  });

  it('filters the timeline by component', async () => {
    const user = userEvent.setup();
    renderWithStream();
    await screen.findAllByTestId('timeline-item');
    await user.selectOptions(screen.getByLabelText('Component'), 'xray');
    expect(screen.getAllByTestId('timeline-item')).toHaveLength(3);
    await user.selectOptions(screen.getByLabelText('Component'), 'cloudflared');
    expect(screen.queryAllByTestId('timeline-item')).toHaveLength(0);
    expect(screen.getByText('No cloudflared events.')).toBeInTheDocument();
  });
});
