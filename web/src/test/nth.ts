/** The item at `index`, or a failed test: for reading fixtures under noUncheckedIndexedAccess. */
export function nth<T>(items: readonly T[], index: number): T {
  const item = items[index];
  if (item === undefined) throw new Error(`no item at index ${String(index)}`);
  return item;
}
