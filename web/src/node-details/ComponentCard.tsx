import { memo, useId, type ReactNode } from 'react';
import type { ComponentState, Recovery, Slot } from '../api/schemas';
import { StatusBar } from '../bar/StatusBar';
import { StatusBadge } from '../status/StatusBadge';
import { formatDuration, parseTime } from '../time/format';
import { TimeValue } from '../time/TimeValue';
import { useNow } from '../time/useNow';

function Field({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div className="field">
      <dt>{label}</dt>
      <dd>{children}</dd>
    </div>
  );
}

function DownSince({ iso }: { iso: string | null }) {
  const now = useNow();
  const since = parseTime(iso);
  if (since === null) return <span className="muted">—</span>;
  return (
    <>
      <TimeValue iso={iso} showAbsolute /> <strong>(down for {formatDuration((now - since) / 1000)})</strong>
    </>
  );
}

/** A down component whose probes pass again, short of the count that makes it up. */
function Recovering({ recovery }: { recovery: Recovery }) {
  const text = `recovering: ${String(recovery.successes)} of ${String(recovery.needed)} probes passed`;
  return (
    <p className="card__recovering" data-testid="recovering">
      <span>{text}</span>
      <progress value={recovery.successes} max={recovery.needed} aria-hidden="true" />
    </p>
  );
}

/** One component of a node: its current state and its own 7-day bar. */
export const ComponentCard = memo(function ComponentCard({
  state,
  slots,
}: {
  state: ComponentState;
  slots: readonly Slot[];
}) {
  const titleId = useId();
  return (
    <article
      className={`card card--${state.status}`}
      data-testid="component-card"
      data-component={state.component}
      data-status={state.status}
      aria-labelledby={titleId}
    >
      <header className="card__header">
        <h2 id={titleId}>{state.component}</h2>
        <StatusBadge value={state.status} />
      </header>
      {state.status === 'down' && state.recovering && <Recovering recovery={state.recovering} />}
      {state.status === 'disabled' ? (
        <p className="muted">not enabled on this node</p>
      ) : (
        <dl className="card__fields">
          <Field label="Checked">
            <TimeValue iso={state.checked_at} showAbsolute />
          </Field>
          {state.down_since && (
            <Field label="Down since">
              <DownSince iso={state.down_since} />
            </Field>
          )}
          <Field label="Consecutive failures">{state.consecutive_failures}</Field>
          <Field label="Restart attempts">{state.restart_attempts}</Field>
          <Field label="Last restart">
            <TimeValue iso={state.last_restart_at} showAbsolute />
          </Field>
          <Field label="Last failed restart">
            <TimeValue iso={state.last_restart_failed_at} showAbsolute />
          </Field>
          {state.last_error && (
            <Field label="Last error">
              <span className="card__error">{state.last_error}</span>
            </Field>
          )}
        </dl>
      )}
      {state.component !== 'unknown' && state.status !== 'disabled' && (
        // A component the node does not use has no history worth a bar.
        <div className="card__history">
          <span aria-hidden="true">Last 7 days</span>
          <StatusBar slots={slots} component={state.component} label={state.component} />
        </div>
      )}
    </article>
  );
});
