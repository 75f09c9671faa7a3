import type { Connection } from '../api/stream-reducer';

type PillState = 'connecting' | 'live' | 'reconnecting' | 'unreachable';

function pill(connection: Connection, reason: string | null): { state: PillState; text: string } {
  switch (connection) {
    case 'connecting':
      return { state: 'connecting', text: 'connecting…' };
    case 'live':
      return { state: 'live', text: 'live' };
    case 'reconnecting':
      return { state: 'reconnecting', text: 'reconnecting…' };
    case 'unreachable':
      return { state: 'unreachable', text: `node unreachable: ${reason ?? 'no reason given'}` };
    case 'unauthorized':
      return { state: 'reconnecting', text: 'waiting for the admin token' };
    case 'failed':
      return { state: 'unreachable', text: `stream stopped: ${reason ?? 'no reason given'}` };
  }
}

/** How fresh the page is: `live`, `reconnecting…` or `node unreachable: <reason>`. */
export function LivePill({ connection, reason }: { connection: Connection; reason: string | null }) {
  const { state, text } = pill(connection, reason);
  return (
    <span
      className={`live-pill live-pill--${state}`}
      data-testid="live-pill"
      data-state={state}
      role="status"
      title={state === 'reconnecting' && reason ? `last error: ${reason}` : undefined}
    >
      <span className="live-pill__dot" aria-hidden="true" />
      {text}
    </span>
  );
}
