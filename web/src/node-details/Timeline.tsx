import { memo, useId, useMemo, useState } from 'react';
import { COMPONENTS, type RuntimeEvent } from '../api/schemas';
import { EVENTS_CAP } from '../api/stream-reducer';
import { formatDateTime, formatRelative, parseTime } from '../time/format';
import { useNow } from '../time/useNow';

const LEVEL_ICONS: Record<RuntimeEvent['level'], string> = { info: 'ℹ', warning: '⚠', unknown: '?' };

const TimelineItem = memo(function TimelineItem({ event, now }: { event: RuntimeEvent; now: number }) {
  const at = parseTime(event.occurred_at);
  return (
    <li
      className={`timeline-item timeline-item--${event.level}`}
      data-testid="timeline-item"
      data-event-id={event.event_id}
    >
      <span className="timeline-item__icon" aria-hidden="true">
        {LEVEL_ICONS[event.level]}
      </span>
      <div className="timeline-item__body">
        <p className="timeline-item__message">
          <span className="visually-hidden">{event.level}: </span>
          {event.message}
        </p>
        <p className="timeline-item__meta">
          <span className="timeline-item__component">{event.component}</span>
          {' · '}
          {at === null ? (
            event.occurred_at
          ) : (
            <time dateTime={event.occurred_at}>
              {formatRelative(at, now)} · {formatDateTime(at)}
            </time>
          )}
        </p>
      </div>
    </li>
  );
});

type Filter = 'all' | (typeof COMPONENTS)[number];

/** The node's key events, newest first, filterable by component. */
export function Timeline({ events }: { events: readonly RuntimeEvent[] }) {
  const [filter, setFilter] = useState<Filter>('all');
  const now = useNow();
  const selectId = useId();
  const shown = useMemo(
    () => (filter === 'all' ? events : events.filter((event) => event.component === filter)),
    [events, filter],
  );

  return (
    <section className="timeline-section" aria-labelledby={`${selectId}-title`}>
      <header className="timeline-section__header">
        <h2 id={`${selectId}-title`}>Events</h2>
        <label htmlFor={selectId}>Component</label>
        <select
          id={selectId}
          value={filter}
          onChange={(event) => {
            setFilter(event.target.value as Filter);
          }}
        >
          <option value="all">all</option>
          {COMPONENTS.map((component) => (
            <option key={component} value={component}>
              {component}
            </option>
          ))}
        </select>
      </header>
      {events.length >= EVENTS_CAP && <p className="muted">showing the newest {EVENTS_CAP} events</p>}
      {shown.length === 0 && (
        <p className="muted">{events.length === 0 ? 'No events recorded yet.' : `No ${filter} events.`}</p>
      )}
      <ol className="timeline" data-testid="timeline">
        {shown.map((event) => (
          <TimelineItem key={event.event_id} event={event} now={now} />
        ))}
      </ol>
    </section>
  );
}
