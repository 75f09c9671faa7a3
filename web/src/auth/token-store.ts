/**
 * The admin token for this browser session. It lives in `sessionStorage` (gone with
 * the tab), is sent only as a bearer header, and is never put into a URL we build.
 */

export const TOKEN_KEY = 'xpagent.token';

export interface AuthState {
  token: string | null;
  /** The server answered 401: the page asks for a (new) token. */
  rejected: boolean;
  /** The 401 answered a token we sent (not its absence): the page says it was refused. */
  refused: boolean;
}

/** Its functions do not use `this`, so they can be passed around on their own. */
export interface TokenStore {
  getState: () => AuthState;
  subscribe: (listener: () => void) => () => void;
  /** Stores a token the user gave, and lets the pages retry with it. */
  setToken: (token: string) => void;
  /** Called on a 401: forgets the refused token and asks for one. */
  reject: () => void;
}

export function createTokenStore(storage: Storage | null): TokenStore {
  const read = () => {
    try {
      return storage?.getItem(TOKEN_KEY) ?? null;
    } catch {
      return null; // storage disabled by the browser: the token lasts until reload
    }
  };
  const write = (token: string | null) => {
    try {
      if (token === null) storage?.removeItem(TOKEN_KEY);
      else storage?.setItem(TOKEN_KEY, token);
    } catch {
      // as above
    }
  };
  let state: AuthState = { token: read(), rejected: false, refused: false };
  const listeners = new Set<() => void>();
  const update = (next: AuthState) => {
    state = next;
    listeners.forEach((listener) => {
      listener();
    });
  };
  return {
    getState: () => state,
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    setToken(token) {
      write(token);
      update({ token, rejected: false, refused: false });
    },
    reject() {
      if (state.rejected) return;
      write(null);
      update({ token: null, rejected: true, refused: state.token !== null });
    },
  };
}

/**
 * Takes a `?token=` from the page's address once: stores it and removes it from the
 * address bar (keeping the path and the `#/…` route), so it does not linger in the
 * history, bookmarks or screenshots.
 */
export function takeTokenFromUrl(store: TokenStore, location: Location, history: History): void {
  const url = new URL(location.href);
  const token = url.searchParams.get('token');
  if (token === null) return;
  url.searchParams.delete('token');
  history.replaceState(history.state, '', url.pathname + url.search + url.hash);
  if (token) store.setToken(token);
}
