import type { Meta, StoryObj } from '@storybook/react-vite';
import { expect, within } from 'storybook/test';
import { makeSlots, notObserved, xrayDown } from '../mocks/builders';
import { StatusBar } from './StatusBar';

const meta = {
  title: 'Bar/StatusBar',
  component: StatusBar,
  args: { label: 'Tokyo edge', slots: makeSlots() },
  decorators: [
    (Story) => (
      <div style={{ maxWidth: 720, paddingTop: '8rem' }}>
        <Story />
      </div>
    ),
  ],
  play: async ({ canvasElement }) => {
    await expect(within(canvasElement).getByTestId('status-bar')).toBeInTheDocument();
  },
} satisfies Meta<typeof StatusBar>;

export default meta;
type Story = StoryObj<typeof meta>;

export const AllUp: Story = {};

/** A 20-second blip (left) and a full outage (right) are both `down`, and look different. */
export const BlipVersusOutage: Story = {
  args: { slots: makeSlots({ cloudflared: false, patches: { ...xrayDown(100, 1, 20), ...xrayDown(220, 1, 1800) } }) },
};

export const Degraded: Story = {
  args: { slots: makeSlots({ patches: { ...xrayDown(150, 6, 900), ...xrayDown(330, 6, 1800) } }) },
};

/** Many changes within a slot: the marks above the bar (not on 300–302: 5 changes, an agent start and one outage). */
export const Flapping: Story = {
  args: { slots: makeSlots({ patches: { ...xrayDown(200, 20, 300, 8), ...xrayDown(300, 3, 60, 5) } }) },
};

/** Grey where the agent was not running. */
export const Unknown: Story = {
  args: { slots: makeSlots({ patches: notObserved(0, 200) }) },
};

export const EmptyHistory: Story = {
  args: { slots: makeSlots({ patches: notObserved(0, 336) }) },
};

/** A component's own bar: cloudflared not enabled on this node. */
export const DisabledComponent: Story = {
  args: { slots: makeSlots({ cloudflared: false }), component: 'cloudflared', label: 'cloudflared' },
};

export const ComponentDown: Story = {
  args: {
    slots: makeSlots({ patches: { ...xrayDown(60, 2, 120), ...xrayDown(300, 20, 1800) } }),
    component: 'xray',
    label: 'xray',
  },
};

/** Focused, tooltip open on the last complete slot. */
export const Focused: Story = {
  args: { slots: makeSlots({ patches: xrayDown(334, 1, 600, 6) }) },
  play: async ({ canvasElement }) => {
    within(canvasElement).getByTestId('status-bar').focus();
    const tooltip = await within(document.body).findByTestId('slot-tooltip');
    await expect(tooltip).toHaveAttribute('data-slot-index', '334');
    await expect(tooltip).toHaveTextContent('flapping');
  },
};

/** xp's own bar: where xp was `down` the agent was stopped, drawn grey and named `stopped`. */
export const XpStopped: Story = {
  args: {
    slots: makeSlots({
      patches: Object.fromEntries(
        [120, 121, 122, 310].map((index) => [index, { xp: 'down', observed_secs: 900, changes: 3 }] as const),
      ),
    }),
    component: 'xp',
    label: 'xp',
  },
  play: async ({ canvasElement }) => {
    const bar = within(canvasElement).getByTestId('status-bar');
    await expect(bar.querySelector('rect.cell--down')).toBeNull();
    await expect(bar).toHaveAccessibleName('xp, last 7 days: never down, 4 slots not running');
  },
};
