import { render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import { App } from './App';
import { AppProviders } from './AppProviders';
import { TOKEN_KEY } from './auth/token-store';
import { createMockServices } from './mocks/MockServices';
import { THEME_KEY } from './theme/theme';
import * as scenarios from './mocks/scenarios';

function renderApp(api = scenarios.allUp) {
  const services = createMockServices(api, window.sessionStorage);
  const transport = vi.fn(services.transport);
  render(
    <AppProviders services={{ ...services, transport }}>
      <App />
    </AppProviders>,
  );
  return { transport };
}

describe('app', () => {
  it('asks for the token on 401, keeps it for the session, and then shows the nodes', async () => {
    window.history.replaceState(null, '', '/#/');
    const user = userEvent.setup();
    const { transport } = renderApp({ ...scenarios.allUp, token: 'secret' });

    const prompt = await screen.findByTestId('token-prompt');
    await user.type(within(prompt).getByLabelText('Admin token'), 'secret');
    await user.click(within(prompt).getByRole('button'));

    expect(await screen.findAllByTestId('node-row')).toHaveLength(3);
    expect(window.sessionStorage.getItem(TOKEN_KEY)).toBe('secret');
    // The token travels in a header only, never in a URL we build.
    for (const [path] of transport.mock.calls) expect(path).not.toContain('secret');
  });

  it('asks again when the token is refused', async () => {
    window.history.replaceState(null, '', '/#/');
    const user = userEvent.setup();
    renderApp({ ...scenarios.allUp, token: 'secret' });
    const first = await screen.findByTestId('token-prompt');
    // Asked for the first time, nothing was refused yet.
    expect(screen.queryByText(/the token was refused/i)).toBeNull();
    expect(first.querySelector('input[autocomplete="username"]')).not.toBeNull();
    await user.type(within(first).getByLabelText('Admin token'), 'wrong{Enter}');
    expect(await screen.findByTestId('token-prompt')).toBeInTheDocument();
    expect(await screen.findByRole('alert')).toHaveTextContent('The token was refused');
    expect(window.sessionStorage.getItem(TOKEN_KEY)).toBeNull();
  });

  it('routes by the hash: a deep link opens the node, a link leads back to the list', async () => {
    window.history.replaceState(null, '', '/#/nodes/node-b');
    const user = userEvent.setup();
    renderApp();
    expect(await screen.findByRole('heading', { name: 'Frankfurt edge' })).toBeInTheDocument();
    await user.click(screen.getByRole('link', { name: '← All nodes' }));
    expect(await screen.findAllByTestId('node-row')).toHaveLength(3);
    await user.click(screen.getByRole('link', { name: 'Tokyo edge' }));
    expect(window.location.hash).toBe('#/nodes/node-a');
    expect(await screen.findByRole('heading', { name: 'Tokyo edge' })).toBeInTheDocument();
  });

  it('has a theme toggle that cycles and persists the choice', async () => {
    window.history.replaceState(null, '', '/#/');
    const user = userEvent.setup();
    renderApp();
    const toggle = screen.getByRole('button', { name: /theme/i });
    await user.click(toggle);
    expect(document.documentElement.dataset.theme).toBe('light');
    expect(window.localStorage.getItem(THEME_KEY)).toBe('light');
    await user.click(toggle);
    expect(document.documentElement.dataset.theme).toBe('dark');
    await user.click(toggle);
    expect(document.documentElement.dataset.theme).toBeUndefined();
    expect(window.localStorage.getItem(THEME_KEY)).toBeNull();
  });
});
