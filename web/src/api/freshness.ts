/**
 * How fresh a node's data is, from the payload itself: the newest time any of its
 * components was checked. Derived, never stored.
 */
import type { ComponentState } from './schemas';
import { parseTime } from '../time/format';

/** The newest `checked_at` of the components, in ms; null when none was ever checked. */
export function newestCheckedAt(components: readonly ComponentState[]): number | null {
  let newest: number | null = null;
  for (const component of components) {
    const ms = parseTime(component.checked_at);
    if (ms !== null && (newest === null || ms > newest)) newest = ms;
  }
  return newest;
}
