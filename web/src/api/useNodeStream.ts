import { useEffect, useReducer } from 'react';
import { useAuth, useTokenStore } from '../auth/AuthContext';
import { openNodeEvents } from './client';
import { runEventStream } from './stream-loop';
import { EVENTS_CAP, initialStreamState, streamReducer, type StreamState } from './stream-reducer';
import { useTransport } from './TransportContext';

/**
 * Follows a node's SSE stream for as long as the calling component is mounted.
 * A new token (after a 401) starts a new loop; leaving the page aborts it.
 */
export function useNodeStream(nodeId: string): StreamState {
  const transport = useTransport();
  const tokens = useTokenStore();
  const { token } = useAuth();
  const [state, dispatch] = useReducer(streamReducer, initialStreamState);

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

  return state;
}
