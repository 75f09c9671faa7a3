import { describe, expect, it } from 'vitest';
import { TOKEN_KEY, createTokenStore, takeTokenFromUrl } from './token-store';

function visit(url: string) {
  window.history.replaceState(null, '', url);
}

describe('token from the address', () => {
  it('is taken once, kept in sessionStorage, and removed from the address bar with the route kept', () => {
    visit('/xp/?token=s3cret&lang=en#/nodes/node-b');
    const store = createTokenStore(window.sessionStorage);
    takeTokenFromUrl(store, window.location, window.history);
    expect(window.sessionStorage.getItem(TOKEN_KEY)).toBe('s3cret');
    expect(store.getState()).toEqual({ token: 's3cret', rejected: false, refused: false });
    expect(window.location.pathname + window.location.search + window.location.hash).toBe('/xp/?lang=en#/nodes/node-b');
  });

  it('leaves the address alone when there is no token in it', () => {
    visit('/?a=1#/');
    const store = createTokenStore(window.sessionStorage);
    takeTokenFromUrl(store, window.location, window.history);
    expect(window.location.search).toBe('?a=1');
    expect(store.getState().token).toBeNull();
  });

  it('removes an empty token parameter without storing it', () => {
    visit('/?token=#/');
    const store = createTokenStore(window.sessionStorage);
    takeTokenFromUrl(store, window.location, window.history);
    expect(window.location.href).toBe('http://localhost:3000/#/');
    expect(window.sessionStorage.getItem(TOKEN_KEY)).toBeNull();
  });
});

describe('token store', () => {
  it('reads the token this tab stored earlier', () => {
    window.sessionStorage.setItem(TOKEN_KEY, 'earlier');
    expect(createTokenStore(window.sessionStorage).getState().token).toBe('earlier');
  });

  it('forgets a refused token and asks for one; a new token clears the request', () => {
    const store = createTokenStore(window.sessionStorage);
    const seen: boolean[] = [];
    store.subscribe(() => seen.push(store.getState().rejected));
    store.setToken('old');
    store.reject();
    expect(store.getState()).toEqual({ token: null, rejected: true, refused: true });
    expect(window.sessionStorage.getItem(TOKEN_KEY)).toBeNull();
    store.setToken('new');
    expect(store.getState()).toEqual({ token: 'new', rejected: false, refused: false });
    expect(seen).toEqual([false, true, false]);
  });

  it('tells a refused token from a missing one', () => {
    const store = createTokenStore(null);
    store.reject();
    expect(store.getState()).toEqual({ token: null, rejected: true, refused: false });
  });

  it('works without storage (blocked by the browser)', () => {
    const store = createTokenStore(null);
    store.setToken('t');
    expect(store.getState().token).toBe('t');
  });
});
