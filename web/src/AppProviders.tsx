import { QueryClientProvider, type QueryClient } from '@tanstack/react-query';
import type { ReactNode } from 'react';
import type { Transport } from './api/client';
import { TransportContext } from './api/TransportContext';
import { AuthContext } from './auth/AuthContext';
import type { TokenStore } from './auth/token-store';

export interface AppServices {
  transport: Transport;
  tokens: TokenStore;
  queryClient: QueryClient;
}

/** Everything a page needs from outside React; stories and tests pass mocks here. */
export function AppProviders({ services, children }: { services: AppServices; children: ReactNode }) {
  return (
    <AuthContext.Provider value={services.tokens}>
      <TransportContext.Provider value={services.transport}>
        <QueryClientProvider client={services.queryClient}>{children}</QueryClientProvider>
      </TransportContext.Provider>
    </AuthContext.Provider>
  );
}
