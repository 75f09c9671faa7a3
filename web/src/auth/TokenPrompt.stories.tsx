import type { Meta, StoryObj } from '@storybook/react-vite';
import { expect, within } from 'storybook/test';
import { MockServices } from '../mocks/MockServices';
import { TokenPrompt } from './TokenPrompt';

const meta = {
  title: 'Auth/TokenPrompt',
  component: TokenPrompt,
  decorators: [
    (Story) => (
      <MockServices api={{}}>
        <Story />
      </MockServices>
    ),
  ],
} satisfies Meta<typeof TokenPrompt>;

export default meta;
type Story = StoryObj<typeof meta>;

export const Default: Story = {
  play: async ({ canvasElement }) => {
    await expect(within(canvasElement).getByLabelText('Admin token')).toHaveAttribute('type', 'password');
  },
};
