import { useState, type ReactNode } from 'react';
import { AppProviders, type AppServices } from '../AppProviders';
import { createQueryClient } from '../api/query-client';
import { createTokenStore } from '../auth/token-store';
import { mockTransport, type MockApi } from './transport';

/** Fresh services over a mock API: its own query cache, a token store in memory. */
export function createMockServices(api: MockApi, storage: Storage | null = null): AppServices {
  const tokens = createTokenStore(storage);
  return {
    tokens,
    transport: mockTransport(api, () => tokens.getState().token),
    queryClient: createQueryClient(() => {
      tokens.reject();
    }, 0),
  };
}

/** Renders children against a mock API, as stories and page tests do. */
export function MockServices({ api, children }: { api: MockApi; children: ReactNode }) {
  const [services] = useState(() => createMockServices(api));
  return <AppProviders services={services}>{children}</AppProviders>;
}
