import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import { AppProviders } from './AppProviders';
import { httpTransport } from './api/client';
import { createQueryClient } from './api/query-client';
import { createTokenStore, takeTokenFromUrl } from './auth/token-store';
import { applyTheme, readThemeChoice } from './theme/theme';
import './app.css';

function storage(kind: 'sessionStorage' | 'localStorage'): Storage | null {
  try {
    return window[kind];
  } catch {
    return null; // blocked by the browser's privacy settings
  }
}

applyTheme(document.documentElement, readThemeChoice(storage('localStorage')));
const tokens = createTokenStore(storage('sessionStorage'));
takeTokenFromUrl(tokens, window.location, window.history);

const services = {
  tokens,
  transport: httpTransport(() => tokens.getState().token),
  queryClient: createQueryClient(() => {
    tokens.reject();
  }),
};

const root = document.getElementById('root');
if (root) {
  createRoot(root).render(
    <StrictMode>
      <AppProviders services={services}>
        <App />
      </AppProviders>
    </StrictMode>,
  );
}
