import { useId, useState, type SubmitEvent } from 'react';
import { useAuth, useTokenStore } from './AuthContext';

/** Shown when the API answered 401: the agent's `XP_ADMIN_TOKEN` unlocks the pages. */
export function TokenPrompt() {
  const store = useTokenStore();
  const { refused } = useAuth();
  const [value, setValue] = useState('');
  const inputId = useId();
  const hintId = useId();

  const submit = (event: SubmitEvent<HTMLFormElement>) => {
    event.preventDefault();
    const token = value.trim();
    if (token) store.setToken(token);
  };

  return (
    <form
      className="token-prompt panel"
      data-testid="token-prompt"
      onSubmit={submit}
      aria-labelledby={`${inputId}-title`}
    >
      <h2 id={`${inputId}-title`}>Admin token needed</h2>
      <p id={hintId}>
        This agent asks for its admin token (<code>XP_ADMIN_TOKEN</code>). It is kept in this browser tab only.
      </p>
      {refused && (
        <p className="token-prompt__refused" role="alert" data-testid="token-refused">
          The token was refused; check it and try again.
        </p>
      )}
      {/* A password form without a username field makes Chromium warn, and password
          managers guess; the token has no user, so this one is fixed and hidden. */}
      <input
        type="text"
        name="username"
        autoComplete="username"
        value="xpagent-admin"
        readOnly
        hidden
        tabIndex={-1}
        aria-hidden="true"
      />
      <label htmlFor={inputId}>Admin token</label>
      <div className="token-prompt__row">
        <input
          id={inputId}
          type="password"
          autoComplete="current-password"
          aria-describedby={hintId}
          value={value}
          onChange={(event) => {
            setValue(event.target.value);
          }}
          required
          autoFocus
        />
        <button type="submit" className="button button--primary">
          Sign in
        </button>
      </div>
    </form>
  );
}
