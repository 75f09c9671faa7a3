import type { Meta, StoryObj } from '@storybook/react-vite';
import { within } from 'storybook/test';
import { App } from './App';
import { MockServices } from './mocks/MockServices';
import * as scenarios from './mocks/scenarios';
import type { MockApi } from './mocks/transport';

const meta = {
  title: 'App',
  component: App,
  parameters: { layout: 'fullscreen', api: () => scenarios.partial },
  decorators: [
    (Story, { parameters }) => (
      <MockServices api={(parameters.api as () => MockApi)()}>
        <Story />
      </MockServices>
    ),
  ],
} satisfies Meta<typeof App>;

export default meta;
type Story = StoryObj<typeof meta>;

export const Nodes: Story = {
  play: async ({ canvasElement }) => {
    await within(canvasElement).findAllByTestId('node-row');
  },
};

/** The API wants a token this session does not have: the prompt replaces the page. */
export const TokenNeeded: Story = {
  parameters: { api: () => ({ ...scenarios.allUp, token: 'secret' }) },
  play: async ({ canvasElement }) => {
    await within(canvasElement).findByTestId('token-prompt');
  },
};
