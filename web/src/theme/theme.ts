/**
 * Light, dark, or the system's choice. The choice persists in `localStorage`; the
 * stylesheet follows the system unless `<html data-theme>` says otherwise.
 */
import { useSyncExternalStore } from 'react';

export type ThemeChoice = 'system' | 'light' | 'dark';

export const THEME_KEY = 'xpagent.theme';
const CHOICES: readonly ThemeChoice[] = ['system', 'light', 'dark'];

export function readThemeChoice(storage: Storage | null): ThemeChoice {
  try {
    const stored = storage?.getItem(THEME_KEY);
    return CHOICES.find((choice) => choice === stored) ?? 'system';
  } catch {
    return 'system';
  }
}

export function applyTheme(root: HTMLElement, choice: ThemeChoice): void {
  if (choice === 'system') delete root.dataset.theme;
  else root.dataset.theme = choice;
}

export function nextTheme(choice: ThemeChoice): ThemeChoice {
  return CHOICES[(CHOICES.indexOf(choice) + 1) % CHOICES.length] ?? 'system';
}

const listeners = new Set<() => void>();

function storage(): Storage | null {
  try {
    return window.localStorage;
  } catch {
    return null;
  }
}

export function setThemeChoice(choice: ThemeChoice): void {
  try {
    if (choice === 'system') storage()?.removeItem(THEME_KEY);
    else storage()?.setItem(THEME_KEY, choice);
  } catch {
    // storage disabled: the choice lasts until reload
  }
  applyTheme(document.documentElement, choice);
  listeners.forEach((listener) => {
    listener();
  });
}

export function useThemeChoice(): ThemeChoice {
  return useSyncExternalStore(
    (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    () => (document.documentElement.dataset.theme as ThemeChoice | undefined) ?? 'system',
  );
}
