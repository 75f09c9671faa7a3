import { act, render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { AppProviders } from '../AppProviders';
import type { Transport } from '../api/client';
import { MOCK_NOW, makeDetail, makeEvent, makeEvents, makeItem } from '../mocks/builders';
import { createMockServices } from '../mocks/MockServices';
import { encodeFrames, mockTransport, type MockFrame } from '../mocks/transport';
import { NodeDetailsPage } from './NodeDetailsPage';

const item = makeItem({ id: 'node-b', name: 'Frankfurt edge', cloudflared: false });
const detail = makeDetail(item, makeEvents(3));

/** The page against a GET answer from the mocks and a stream the test writes to. */
function renderWithStream() {
  let controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  const base = mockTransport({ details: { 'node-b': detail } });
  const transport: Transport = (path, init) => {
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
  return { send };
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
    await send([{ event: 'snapshot', data: detail }]);
    expect(pill()).toHaveAttribute('data-state', 'live');
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
