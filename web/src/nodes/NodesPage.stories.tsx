import type { Meta, StoryObj } from '@storybook/react-vite';
import { expect, within } from 'storybook/test';
import { MockServices } from '../mocks/MockServices';
import * as scenarios from '../mocks/scenarios';
import type { MockApi } from '../mocks/transport';
import { NodesPage } from './NodesPage';

const meta = {
  title: 'Pages/Nodes',
  component: NodesPage,
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
    await within(canvasElement).findAllByTestId('node-row');
  },
} satisfies Meta<typeof NodesPage>;

export default meta;
type Story = StoryObj<typeof meta>;

export const AllUp: Story = {};

export const Degraded: Story = { parameters: { api: () => scenarios.degraded } };

export const Down: Story = { parameters: { api: () => scenarios.down } };

export const Unknown: Story = { parameters: { api: () => scenarios.unknown } };

export const PartialWithUnreachableNodes: Story = {
  parameters: { api: () => scenarios.partial },
  play: async ({ canvasElement }) => {
    const banner = await within(canvasElement).findByTestId('partial-banner');
    await expect(banner).toHaveTextContent('node-b');
    await expect(banner).toHaveTextContent('node-e');
  },
};

export const Flapping: Story = { parameters: { api: () => scenarios.flapping } };

export const EmptyHistory: Story = { parameters: { api: () => scenarios.emptyHistory } };

/** Values and fields from a newer agent: shown as unknown, nothing breaks. */
export const NewerNode: Story = { parameters: { api: () => scenarios.newerNode } };

/** One row lacks a required field: that row says so, the others render. */
export const UnreadableRow: Story = { parameters: { api: () => scenarios.invalidItem } };

export const FiveHundredNodes: Story = { parameters: { api: () => scenarios.manyNodes(500) } };

export const Loading: Story = {
  parameters: { api: () => ({ pending: ['api/'] }) },
  play: async ({ canvasElement }) => {
    await within(canvasElement).findByText('Loading nodes…');
  },
};
