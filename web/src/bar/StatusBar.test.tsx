import { act, fireEvent, render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { makeSlots, xrayDown } from '../mocks/builders';
import { StatusBar } from './StatusBar';

const slots = makeSlots({ patches: { ...xrayDown(10, 1, 20), ...xrayDown(11, 1, 1800), ...xrayDown(334, 1, 600, 6) } });
const tooltipIndex = () => Number(screen.getByTestId('slot-tooltip').dataset.slotIndex);

describe('StatusBar', () => {
  it('draws runs of equal slots as one shape each, keeping severities apart', () => {
    const { container } = render(<StatusBar slots={slots} label="Tokyo edge" />);
    const cells = container.querySelectorAll('rect.cell:not(.cell--backdrop)');
    // up 0–9, blip 10, outage 11, up 12–333, flapping 334, up 335
    expect(cells).toHaveLength(6);
    const [blip, outage] = [cells[1], cells[2]];
    expect(Number(blip?.getAttribute('height'))).toBeLessThan(Number(outage?.getAttribute('height')));
    expect(container.querySelectorAll('rect.flap')).toHaveLength(1);
    // The partly-down slots (the blip and the flapping one) get a pale full-height
    // backdrop of their state, so they never read as a gap; the full outage needs none.
    const backdrops = [...container.querySelectorAll('rect.cell--backdrop')];
    expect(backdrops.map((rect) => rect.getAttribute('x'))).toEqual(['10', '334']);
    for (const backdrop of backdrops) {
      const solid = [...cells].find((cell) => cell.getAttribute('x') === backdrop.getAttribute('x'));
      expect(backdrop.getAttribute('class')).toBe(`${solid?.getAttribute('class') ?? ''} cell--backdrop`);
    }
  });

  it('is one tab stop; focus opens the tooltip on the last complete slot', async () => {
    const user = userEvent.setup();
    render(<StatusBar slots={slots} label="Tokyo edge" />);
    await user.tab();
    const bar = screen.getByTestId('status-bar');
    expect(bar).toHaveFocus();
    expect(tooltipIndex()).toBe(334);
    expect(screen.getByRole('tooltip')).toHaveTextContent(/UTC/);
    expect(screen.getByRole('tooltip')).toHaveTextContent('down 10 min of 30 min observed');
    expect(screen.getByRole('tooltip')).toHaveTextContent('6 changes · flapping');
    await user.tab();
    expect(bar).not.toHaveFocus();
    expect(screen.queryByRole('tooltip')).toBeNull();
  });

  it('moves by slot, by day and to the ends with the keyboard; Esc closes', async () => {
    const user = userEvent.setup();
    render(<StatusBar slots={slots} label="Tokyo edge" />);
    await user.tab();
    await user.keyboard('{ArrowRight}');
    expect(tooltipIndex()).toBe(335);
    expect(screen.getByRole('tooltip')).toHaveTextContent('(in progress)');
    await user.keyboard('{ArrowRight}');
    expect(tooltipIndex()).toBe(335);
    await user.keyboard('{PageDown}');
    expect(tooltipIndex()).toBe(335 - 48);
    await user.keyboard('{PageUp}{ArrowLeft}');
    expect(tooltipIndex()).toBe(334);
    await user.keyboard('{Home}');
    expect(tooltipIndex()).toBe(0);
    await user.keyboard('{ArrowLeft}');
    expect(tooltipIndex()).toBe(0);
    await user.keyboard('{End}');
    expect(tooltipIndex()).toBe(335);
    await user.keyboard('{Escape}');
    expect(screen.queryByRole('tooltip')).toBeNull();
    await user.keyboard('{ArrowLeft}');
    expect(tooltipIndex()).toBe(334);
  });

  it('gives a screen reader the bar summary and the focused slot', async () => {
    const user = userEvent.setup();
    render(<StatusBar slots={slots} label="Tokyo edge" />);
    const bar = screen.getByRole('slider');
    expect(bar).toHaveAccessibleName(/^Tokyo edge, last 7 days: 99\.\d% available, 3 slots degraded, 1 flapping$/);
    await user.tab();
    expect(bar).toHaveAttribute('aria-valuenow', '334');
    expect(bar.getAttribute('aria-valuetext')).toMatch(
      /: degraded; xp up, xray down, cloudflared up; down 10 min of 30 min observed; 6 changes \(flapping\)$/,
    );
  });

  it('opens on hover at the slot under the pointer, and on tap', () => {
    render(<StatusBar slots={slots} label="Tokyo edge" />);
    const bar = screen.getByTestId('status-bar');
    const svg = bar.querySelector('svg');
    if (!svg) throw new Error('svg');
    svg.getBoundingClientRect = () => new DOMRect(0, 0, 336, 20);
    act(() => {
      fireEvent.pointerMove(bar, { clientX: 11.5, pointerType: 'mouse' });
    });
    expect(tooltipIndex()).toBe(11);
    act(() => {
      fireEvent.pointerLeave(bar);
    });
    expect(screen.queryByRole('tooltip')).toBeNull();
    act(() => {
      fireEvent.pointerDown(bar, { clientX: 100.2, pointerType: 'touch' });
      bar.focus();
    });
    expect(tooltipIndex()).toBe(100);
  });

  it('says so when there is no history at all', () => {
    render(<StatusBar slots={[]} label="x" />);
    expect(screen.getByTestId('status-bar')).toHaveTextContent('no history');
  });
});
