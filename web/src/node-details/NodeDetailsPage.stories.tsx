import type { Meta, StoryObj } from '@storybook/react-vite';
import { expect, within } from 'storybook/test';
import { makeDetail, makeEvents } from '../mocks/builders';
import { MockServices } from '../mocks/MockServices';
import * as scenarios from '../mocks/scenarios';
import type { MockApi } from '../mocks/transport';
import { NodeDetailsPage } from './NodeDetailsPage';

const meta = {
  title: 'Pages/Node details',
  component: NodeDetailsPage,
  args: { nodeId: 'node-a' },
  parameters: { layout: 'fullscreen', api: () => scenarios.allUp },
  decorators: [
    (Story, { parameters }) => (
      <MockServices api={(parameters.api as () => MockApi)()}>
        <main>
          <Story />
        </main>
      </MockServices>
    ),
  ],
  play: async ({ canvasElement }) => {
    const canvas = within(canvasElement);
    await canvas.findAllByTestId('component-card');
    await expect(await canvas.findByTestId('live-pill')).toHaveAttribute('data-state', 'live');
  },
} satisfies Meta<typeof NodeDetailsPage>;

export default meta;
type Story = StoryObj<typeof meta>;

export const Live: Story = {};

export const Degraded: Story = { args: { nodeId: 'node-b' }, parameters: { api: () => scenarios.degraded } };

export const Down: Story = { args: { nodeId: 'node-c' }, parameters: { api: () => scenarios.down } };

/** The proxying agent lost the node: the last snapshot stays, the pill says why. */
export const UnreachableWithKeptSnapshot: Story = {
  args: { nodeId: 'node-b' },
  parameters: { api: () => scenarios.unreachableKept },
  play: async ({ canvasElement }) => {
    const canvas = within(canvasElement);
    await expect(await canvas.findByText('node unreachable: timed out after 5 s')).toHaveAttribute(
      'data-state',
      'unreachable',
    );
    await expect(canvas.getAllByTestId('component-card')).toHaveLength(3);
  },
};

/** The node never answered since the page opened: no snapshot to keep. */
export const UnreachableWithoutData: Story = {
  args: { nodeId: 'node-b' },
  parameters: { api: () => scenarios.partial },
  play: async ({ canvasElement }) => {
    await expect(await within(canvasElement).findByText(/node unreachable/)).toBeInTheDocument();
  },
};

/** Our own stream cannot connect (503): the page shows the GET answer and keeps retrying. */
export const Reconnecting: Story = {
  parameters: { api: () => ({ ...scenarios.allUp, streams: {} }) },
  play: async ({ canvasElement }) => {
    const canvas = within(canvasElement);
    await canvas.findAllByTestId('component-card');
    await expect(await canvas.findByText('reconnecting…')).toBeInTheDocument();
  },
};

/** xray answers again, short of the probes that make it up: still down, and says how far. */
export const Recovering: Story = {
  args: { nodeId: 'node-r' },
  parameters: { api: () => scenarios.recovering },
  play: async ({ canvasElement }) => {
    const canvas = within(canvasElement);
    await expect(await canvas.findByTestId('recovering')).toHaveTextContent('recovering: 2 of 3 probes passed');
  },
};

export const EmptyHistory: Story = { args: { nodeId: 'node-g' }, parameters: { api: () => scenarios.emptyHistory } };

export const Flapping: Story = { args: { nodeId: 'node-f' }, parameters: { api: () => scenarios.flapping } };

export const NewerNode: Story = { args: { nodeId: 'node-n' }, parameters: { api: () => scenarios.newerNode } };

/** More events than the timeline keeps: the newest 500, and a note saying so. */
export const CappedTimeline: Story = {
  parameters: {
    api: () => {
      const detail = makeDetail(scenarios.tokyo, makeEvents(600, { everyMs: 60_000 }));
      return {
        ...scenarios.allUp,
        details: { 'node-a': detail },
        streams: { 'node-a': scenarios.liveFrames('node-a', detail) },
      };
    },
  },
  play: async ({ canvasElement }) => {
    const canvas = within(canvasElement);
    await canvas.findByText('showing the newest 500 events');
    await expect(canvas.getAllByTestId('timeline-item')).toHaveLength(500);
  },
};

export const NotFound: Story = {
  args: { nodeId: 'nope' },
  play: async ({ canvasElement }) => {
    await within(canvasElement).findByText(/No node/);
  },
};
