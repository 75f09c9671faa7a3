import { useSyncExternalStore } from 'react';

/**
 * One ticking clock per interval, shared by every caller: relative times ("3 min
 * ago") age on screen without any other state changing.
 */
interface Clock {
  now: number;
  subscribe: (listener: () => void) => () => void;
  getSnapshot: () => number;
}

const clocks = new Map<number, Clock>();

function createClock(intervalMs: number): Clock {
  const listeners = new Set<() => void>();
  let timer: ReturnType<typeof setInterval> | undefined;
  const clock: Clock = {
    now: Date.now(),
    subscribe(listener) {
      listeners.add(listener);
      if (timer === undefined) {
        // Restarting after nobody listened: catch up once, then tick.
        if (Date.now() - clock.now >= intervalMs) clock.now = Date.now();
        timer = setInterval(() => {
          clock.now = Date.now();
          listeners.forEach((notify) => {
            notify();
          });
        }, intervalMs);
      }
      return () => {
        listeners.delete(listener);
        if (listeners.size === 0) {
          clearInterval(timer);
          timer = undefined;
        }
      };
    },
    getSnapshot: () => clock.now,
  };
  return clock;
}

export function useNow(intervalMs = 15_000): number {
  let clock = clocks.get(intervalMs);
  if (!clock) {
    clock = createClock(intervalMs);
    clocks.set(intervalMs, clock);
  }
  return useSyncExternalStore(clock.subscribe, clock.getSnapshot);
}
