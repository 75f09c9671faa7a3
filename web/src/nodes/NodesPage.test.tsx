import { render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { makeItem, makeRuntimeList, makeUnreachableItem } from '../mocks/builders';
import { MockServices } from '../mocks/MockServices';
import * as scenarios from '../mocks/scenarios';
import type { MockApi } from '../mocks/transport';
import { NodesPage } from './NodesPage';

function renderPage(api: MockApi) {
  return render(
    <MockServices api={api}>
      <NodesPage />
    </MockServices>,
  );
}

describe('nodes page', () => {
  it('shows one row per node with its test hooks, a link to its page and its availability', async () => {
    renderPage(scenarios.degraded);
    const rows = await screen.findAllByTestId('node-row');
    expect(rows.map((row) => [row.dataset.nodeId, row.dataset.summary, row.dataset.unreachable])).toEqual([
      ['node-b', 'degraded', 'false'],
      ['node-a', 'up', 'false'],
      ['node-c', 'up', 'false'],
    ]);
    const [degraded] = rows;
    if (!degraded) throw new Error('row');
    expect(within(degraded).getByRole('link', { name: 'Frankfurt edge' })).toHaveAttribute('href', '#/nodes/node-b');
    expect(degraded).toHaveTextContent('xray: down');
    expect(degraded).toHaveTextContent(/\d+\.\d+%/);
    expect(screen.getByTestId('counts')).toHaveTextContent(/3 nodes.*2 up.*1 degraded.*0 down.*0 unreachable/);
    expect(screen.queryByTestId('partial-banner')).toBeNull();
  });

  it('names the unreachable nodes in a banner and says why on their rows', async () => {
    renderPage(scenarios.partial);
    const banner = await screen.findByTestId('partial-banner');
    expect(banner).toHaveRole('alert');
    expect(banner).toHaveTextContent('2 nodes did not answer: node-b (Frankfurt edge), node-e (São Paulo edge)');
    const row = screen.getAllByTestId('node-row').find((element) => element.dataset.nodeId === 'node-b');
    expect(row).toHaveAttribute('data-unreachable', 'true');
    expect(row).toHaveAttribute('data-summary', 'unknown');
    expect(row).toHaveTextContent(/timed out after 5 s · data from ≈/);
    const empty = screen.getAllByTestId('node-row').find((element) => element.dataset.nodeId === 'node-e');
    if (!empty) throw new Error('row node-e');
    expect(empty).toHaveTextContent('connection refused · no earlier data');
    // The kind of failure the agent reported says what to check first.
    expect(row).toHaveTextContent('no answer in time: the node, its host or the network is down or slow');
    expect(empty).toHaveTextContent('nothing answered at its address');
    expect(within(empty).getByText('no data')).toBeInTheDocument();
  });

  it('speaks of one unreachable node in the singular', async () => {
    renderPage({
      runtime: makeRuntimeList([
        makeItem({ id: 'node-a' }),
        makeUnreachableItem('node-b', 'Frankfurt edge', 'timed out'),
      ]),
    });
    const banner = await screen.findByTestId('partial-banner');
    expect(banner).toHaveTextContent(
      '1 node did not answer: node-b (Frankfurt edge). Its row shows why and how old its last data is.',
    );
  });

  it('names the time zone of the last update', async () => {
    renderPage(scenarios.allUp);
    await screen.findAllByTestId('node-row');
    expect(await screen.findByText(/^updated \d{1,2}:\d{2}:\d{2}\s*(AM|PM)? UTC$/)).toBeInTheDocument();
  });

  it('filters by name', async () => {
    const user = userEvent.setup();
    renderPage(scenarios.allUp);
    await screen.findAllByTestId('node-row');
    await user.type(screen.getByLabelText('Filter nodes'), 'frank');
    expect(screen.getAllByTestId('node-row').map((row) => row.dataset.nodeId)).toEqual(['node-b']);
    expect(screen.getByText('showing 1 of 3')).toBeInTheDocument();
  });

  it('refreshes on demand, keeping the rows on screen', async () => {
    const user = userEvent.setup();
    const api: MockApi = { ...scenarios.allUp };
    renderPage(api);
    await screen.findAllByTestId('node-row');
    api.runtime = (scenarios.down as { runtime: unknown }).runtime;
    await user.click(screen.getByRole('button', { name: 'Refresh' }));
    expect(screen.getAllByTestId('node-row')).toHaveLength(3);
    expect(await screen.findByText('1 down', { exact: false })).toBeInTheDocument();
    expect(screen.getAllByTestId('node-row')[0]).toHaveAttribute('data-summary', 'down');
  });

  it('renders the other rows when one cannot be read, and says what is wrong with it', async () => {
    renderPage(scenarios.invalidItem);
    const rows = await screen.findAllByTestId('node-row');
    expect(rows).toHaveLength(3);
    const broken = rows.find((row) => row.dataset.nodeId === 'node-x');
    expect(broken).toHaveTextContent(/could not be read \(recent_slots: /);
  });

  it('shows values from a newer node as unknown', async () => {
    renderPage(scenarios.newerNode);
    const rows = await screen.findAllByTestId('node-row');
    const newer = rows.find((row) => row.dataset.nodeId === 'node-n');
    expect(newer).toHaveAttribute('data-summary', 'unknown');
    expect(newer).toHaveTextContent('xray: unknown');
  });

  it('says why when the list cannot be loaded', async () => {
    renderPage({ runtime: 'not json at all' });
    expect(await screen.findByRole('alert')).toHaveTextContent('Could not load the nodes: runtime list');
  });
});
