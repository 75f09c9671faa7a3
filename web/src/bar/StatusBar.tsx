import { memo, useMemo, useState, type KeyboardEvent, type PointerEvent } from 'react';
import type { ComponentName, Slot } from '../api/schemas';
import {
  SLOTS_PER_DAY,
  barStats,
  barSummary,
  componentCell,
  mergeRuns,
  nodeCell,
  slotFacts,
  slotText,
  type Severity,
} from './slots';
import { SlotTooltip } from './SlotTooltip';

interface StatusBarProps {
  slots: readonly Slot[];
  /** Whose bar: a component's, or (when absent) the node's summary. */
  component?: ComponentName | undefined;
  /** Names the bar for screen readers, e.g. the node's or the component's name ("…, last 7 days" follows). */
  label: string;
}

// The drawing is in slot units: x = slot index, 20 units tall. A top lane marks
// flapping; cells fill the rest from the bottom, their height growing with severity.
const HEIGHT = 20;
const CELL_TOP = 4;
const CELL_HEIGHT = HEIGHT - CELL_TOP;
const SEVERITY_HEIGHT: Record<Severity, number> = { 0: 1, 1: 0.4, 2: 0.6, 3: 0.8, 4: 1 };

/**
 * The 7-day bar: one SVG where runs of equal consecutive slots are one shape, one
 * tab stop, and one shared tooltip for hover, focus and tap. For a screen reader it
 * is a slider over the slots whose value text is the focused slot's facts.
 */
export const StatusBar = memo(function StatusBar({ slots, component, label }: StatusBarProps) {
  const cells = useMemo(
    () => slots.map((slot) => (component ? componentCell(slot, component) : nodeCell(slot))),
    [slots, component],
  );
  const runs = useMemo(() => mergeRuns(cells), [cells]);
  const summary = useMemo(() => barSummary(barStats(slots, cells), component), [slots, cells, component]);

  const [svg, setSvg] = useState<SVGSVGElement | null>(null);
  const [active, setActive] = useState<number | null>(null);
  const [hovered, setHovered] = useState(false);
  const [focused, setFocused] = useState(false);
  const [dismissed, setDismissed] = useState(false);

  const count = slots.length;
  if (count === 0) {
    return (
      <div className="status-bar status-bar--empty" data-testid="status-bar">
        no history
      </div>
    );
  }

  const last = count - 1;
  const facts = active === null ? null : slotFacts(slots, active);
  const open = facts !== null && (hovered || focused) && !dismissed;

  const show = (index: number) => {
    setActive(Math.min(last, Math.max(0, index)));
    setDismissed(false);
  };

  const slotAt = (clientX: number) => {
    const box = svg?.getBoundingClientRect();
    if (!box || box.width === 0) return last;
    return Math.floor(((clientX - box.left) / box.width) * count);
  };

  const onKeyDown = (event: KeyboardEvent) => {
    // Keys as in the ARIA slider pattern; time runs left (oldest) to right (now).
    const current = active ?? last;
    const moves: Record<string, number> = {
      ArrowLeft: current - 1,
      ArrowDown: current - 1,
      ArrowRight: current + 1,
      ArrowUp: current + 1,
      PageDown: current - SLOTS_PER_DAY,
      PageUp: current + SLOTS_PER_DAY,
      Home: 0,
      End: last,
    };
    const target = moves[event.key];
    if (target !== undefined) show(target);
    else if (event.key === 'Escape') setDismissed(true);
    else return;
    event.preventDefault();
  };

  const onPointer = (event: PointerEvent) => {
    if (event.pointerType !== 'touch') setHovered(true);
    show(slotAt(event.clientX));
  };

  return (
    <div
      className="status-bar"
      data-testid="status-bar"
      tabIndex={0}
      role="slider"
      aria-label={`${label}, last 7 days: ${summary}`}
      aria-valuemin={0}
      aria-valuemax={last}
      aria-valuenow={active ?? last}
      aria-valuetext={facts ? slotText(facts) : summary}
      onKeyDown={onKeyDown}
      onFocus={() => {
        // Start on the last complete slot, so both ← and → lead somewhere.
        if (active === null) setActive(Math.max(0, last - 1));
        setFocused(true);
        setDismissed(false);
      }}
      onBlur={() => {
        setFocused(false);
      }}
      onPointerMove={onPointer}
      onPointerDown={onPointer}
      onPointerLeave={() => {
        setHovered(false);
      }}
    >
      <svg
        ref={setSvg}
        className="status-bar__svg"
        viewBox={`0 0 ${String(count)} ${String(HEIGHT)}`}
        preserveAspectRatio="none"
        shapeRendering="crispEdges"
        aria-hidden="true"
      >
        <rect className="status-bar__track" x={0} y={CELL_TOP} width={count} height={CELL_HEIGHT} />
        {runs.map((run) => {
          const height = CELL_HEIGHT * SEVERITY_HEIGHT[run.severity];
          return (
            <g key={run.start}>
              {height < CELL_HEIGHT && (
                // A pale full-height backdrop: a short outage is a tinted slot with
                // a solid foot, never mistaken for a gap in the data.
                <rect
                  className={`cell cell--${run.state} cell--backdrop`}
                  x={run.start}
                  y={CELL_TOP}
                  width={run.length}
                  height={CELL_HEIGHT}
                />
              )}
              <rect
                className={`cell cell--${run.state}`}
                x={run.start}
                y={HEIGHT - height}
                width={run.length}
                height={height}
              />
            </g>
          );
        })}
        {runs
          .filter((run) => run.flapping)
          .map((run) => (
            <rect
              key={`flap-${String(run.start)}`}
              className="flap"
              x={run.start}
              y={0}
              width={run.length}
              height={CELL_TOP - 1}
            />
          ))}
        {active !== null && open && (
          <rect
            className="status-bar__cursor"
            x={active}
            y={0}
            width={1}
            height={HEIGHT}
            vectorEffect="non-scaling-stroke"
          />
        )}
      </svg>
      {open && svg && <SlotTooltip facts={facts} count={count} svg={svg} />}
    </div>
  );
});
