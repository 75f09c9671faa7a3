import { createContext, useContext, useSyncExternalStore } from 'react';
import type { AuthState, TokenStore } from './token-store';

export const AuthContext = createContext<TokenStore | null>(null);

export function useTokenStore(): TokenStore {
  const store = useContext(AuthContext);
  if (!store) throw new Error('useTokenStore needs an AuthContext provider');
  return store;
}

export function useAuth(): AuthState {
  const store = useTokenStore();
  return useSyncExternalStore(store.subscribe, store.getState);
}
