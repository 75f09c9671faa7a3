import { createContext, useContext } from 'react';
import type { Transport } from './client';

export const TransportContext = createContext<Transport | null>(null);

/** The transport of the app (fetch) or of a story/test (mocks). */
export function useTransport(): Transport {
  const transport = useContext(TransportContext);
  if (!transport) throw new Error('useTransport needs a TransportContext provider');
  return transport;
}
