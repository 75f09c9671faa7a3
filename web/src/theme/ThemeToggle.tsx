import { nextTheme, setThemeChoice, useThemeChoice, type ThemeChoice } from './theme';

const ICONS: Record<ThemeChoice, string> = { system: '◐', light: '☀', dark: '☾' };

/** Cycles system → light → dark; the name says the current theme and the next one. */
export function ThemeToggle() {
  const choice = useThemeChoice();
  const next = nextTheme(choice);
  return (
    <button
      type="button"
      className="button button--quiet theme-toggle"
      onClick={() => {
        setThemeChoice(next);
      }}
      aria-label={`Theme: ${choice} (switch to ${next})`}
      title={`Theme: ${choice} (switch to ${next})`}
    >
      <span aria-hidden="true">{ICONS[choice]}</span>
      <span className="theme-toggle__text">{choice}</span>
    </button>
  );
}
