import { useEffect, useReducer } from 'react';
import { useAuth, useTokenStore } from '../auth/AuthContext';
import { fetchNodeDetail, isUnauthorized, openNodeEvents } from './client';
import { runEventStream } from './stream-loop';
import { EVENTS_CAP, initialStreamState, streamReducer, type StreamState } from './stream-reducer';
import { useTransport } from './TransportContext';

/**
 * While the stream is live, the node's state is re-read this often: the stream sends
 * a snapshot only after an event, and a quiet node's checks, failure counts and
 * recovery progress would otherwise stand still on screen.
 */
export const REFRESH_MS = 15_000;

/**
 * Follows a node's SSE stream for as long as the calling component is mounted.
 * A new token (after a 401) starts a new loop; leaving the page aborts it. While the
 * stream is live, the node's state is also re-read every `REFRESH_MS` (without its
 * events: `events_limit=0`) and folded in through the reducer.
 */
export function useNodeStream(nodeId: string): StreamState {
  const transport = useTransport();
  const tokens = useTokenStore();
  const { token } = useAuth();
  const [state, dispatch] = useReducer(streamReducer, initialStreamState);
  const live = state.connection === 'live';

  useEffect(() => {
    const controller = new AbortController();
    void runEventStream({
      open: (signal) => openNodeEvents(transport, nodeId, EVENTS_CAP, signal),
      dispatch: (action) => {
        dispatch(action);
        if (action.type === 'unauthorized') tokens.reject();
      },
      signal: controller.signal,
    });
    return () => {
      controller.abort();
    };
  }, [transport, tokens, nodeId, token]);

  useEffect(() => {
    if (!live) return;
    const controller = new AbortController();
    let inFlight = false;
    const refresh = async () => {
      if (inFlight) return; // a slow answer is not stacked with another request
      inFlight = true;
      try {
        const detail = await fetchNodeDetail(transport, nodeId, 0, controller.signal);
        if (!controller.signal.aborted) dispatch({ type: 'refreshed', detail });
      } catch (error) {
        // The stream reports the connection's trouble; only a refused token matters here.
        if (!controller.signal.aborted && isUnauthorized(error)) tokens.reject();
      } finally {
        inFlight = false;
      }
    };
    const timer = setInterval(() => void refresh(), REFRESH_MS);
    return () => {
      clearInterval(timer);
      controller.abort();
    };
  }, [live, transport, tokens, nodeId]);

  return state;
}
