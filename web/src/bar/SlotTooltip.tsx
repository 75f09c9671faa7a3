import { autoUpdate, flip, offset, shift, useFloating, type VirtualElement } from '@floating-ui/react-dom';
import { useMemo, useState } from 'react';
import { createPortal } from 'react-dom';
import { StatusBadge } from '../status/StatusBadge';
import type { SlotFacts } from './slots';

interface SlotTooltipProps {
  facts: SlotFacts;
  /** How many slots the bar draws, and the drawing: together they place the slot. */
  count: number;
  svg: SVGSVGElement;
}

/**
 * The bar's one tooltip, placed under the slot it describes by Floating UI and
 * rendered into <body> so no row or card clips it. Mounted only while open.
 */
export function SlotTooltip({ facts, count, svg }: SlotTooltipProps) {
  const [floating, setFloating] = useState<HTMLElement | null>(null);
  const reference = useMemo<VirtualElement>(
    () => ({
      getBoundingClientRect: () => {
        const box = svg.getBoundingClientRect();
        const width = box.width / count;
        return new DOMRect(box.left + width * facts.index, box.top, width, box.height);
      },
      contextElement: svg,
    }),
    [svg, count, facts.index],
  );
  const { floatingStyles } = useFloating({
    elements: { reference, floating },
    // Below the bar first: above it, the tooltip of a top row would cover the
    // header's Refresh and theme buttons. It flips above only when there is no room.
    placement: 'bottom',
    middleware: [offset(6), flip({ padding: 8 }), shift({ padding: 8 })],
    whileElementsMounted: autoUpdate,
  });

  return createPortal(
    <div
      ref={setFloating}
      style={floatingStyles}
      className="slot-tooltip"
      role="tooltip"
      data-testid="slot-tooltip"
      data-slot-index={facts.index}
    >
      <p className="slot-tooltip__time">
        {facts.range}
        {facts.inProgress && ' (in progress)'}
      </p>
      <dl className="slot-tooltip__states">
        <div>
          <dt>node</dt>
          <dd>
            <StatusBadge value={facts.summary} />
          </dd>
        </div>
        {facts.components.map(({ name, value, text }) => (
          <div key={name}>
            <dt>{name}</dt>
            <dd>
              <StatusBadge value={value} label={text} />
            </dd>
          </div>
        ))}
      </dl>
      <p>
        down {facts.down} of {facts.observed} observed
      </p>
      <p>
        {facts.changes} {facts.changes === 1 ? 'change' : 'changes'}
        {facts.flapping && <strong className="slot-tooltip__flapping"> · flapping</strong>}
      </p>
    </div>,
    document.body,
  );
}
