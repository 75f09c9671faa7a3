import { act, fireEvent, render, screen, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { makeComponent, makeSlots, xrayDown } from '../mocks/builders';
import { ComponentCard } from './ComponentCard';

const slots = makeSlots({});

describe('component card', () => {
  it('says how far a recovering component got, and stays down', () => {
    const state = { ...makeComponent('xray', 'down'), recovering: { successes: 2, needed: 3 } };
    render(<ComponentCard state={state} slots={slots} />);
    expect(screen.getByTestId('component-card')).toHaveAttribute('data-status', 'down');
    expect(screen.getByTestId('recovering')).toHaveTextContent('recovering: 2 of 3 probes passed');
  });

  it('says nothing of recovery when the field is missing (older agents) or null', () => {
    const { rerender } = render(<ComponentCard state={makeComponent('xray', 'down')} slots={slots} />);
    expect(screen.queryByTestId('recovering')).toBeNull();
    rerender(<ComponentCard state={{ ...makeComponent('xray', 'down'), recovering: null }} slots={slots} />);
    expect(screen.queryByTestId('recovering')).toBeNull();
  });

  it('ignores a recovery on a component that is not down', () => {
    const state = { ...makeComponent('xray', 'up'), recovering: { successes: 1, needed: 3 } };
    render(<ComponentCard state={state} slots={slots} />);
    expect(screen.queryByTestId('recovering')).toBeNull();
  });

  it("labels its bar with the component's own summary, not the node's availability", () => {
    const withOutage = makeSlots({ patches: xrayDown(10, 2) });
    render(<ComponentCard state={makeComponent('xray', 'up')} slots={withOutage} />);
    const bar = screen.getByRole('slider');
    expect(bar).toHaveAccessibleName('xray, last 7 days: 2 slots down');
    expect(bar.getAttribute('aria-label')?.match(/7 days/g)).toHaveLength(1);
  });

  it('shows no bar for a component the node does not use', () => {
    render(
      <ComponentCard state={makeComponent('cloudflared', 'disabled')} slots={makeSlots({ cloudflared: false })} />,
    );
    const card = screen.getByTestId('component-card');
    expect(card).toHaveTextContent('not enabled on this node');
    expect(within(card).queryByTestId('status-bar')).toBeNull();
    expect(card).not.toHaveTextContent('Last 7 days');
  });

  it("draws xp's stopped slots grey and names them `stopped` in the tooltip", () => {
    const stopped = makeSlots({ patches: { 100: { xp: 'down', observed_secs: 600, changes: 3 } } });
    const { container } = render(<ComponentCard state={makeComponent('xp', 'up')} slots={stopped} />);
    expect(container.querySelector('rect.cell--down')).toBeNull();
    expect(container.querySelector('rect.cell--unknown')?.getAttribute('x')).toBe('100');
    const bar = screen.getByTestId('status-bar');
    const svg = bar.querySelector('svg');
    if (!svg) throw new Error('svg');
    svg.getBoundingClientRect = () => new DOMRect(0, 0, 336, 20);
    act(() => {
      fireEvent.pointerMove(bar, { clientX: 100.5, pointerType: 'mouse' });
    });
    const tooltip = screen.getByTestId('slot-tooltip');
    expect(tooltip).toHaveAttribute('data-slot-index', '100');
    const xp = within(tooltip).getByText('xp').nextElementSibling;
    expect(xp).toHaveTextContent('stopped');
    expect(xp).not.toHaveTextContent('down');
  });
});
