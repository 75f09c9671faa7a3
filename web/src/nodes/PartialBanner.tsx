/** The answer is partial: names the nodes that did not answer. */
export function PartialBanner({ ids, names }: { ids: readonly string[]; names: ReadonlyMap<string, string> }) {
  return (
    <div className="banner banner--warning" role="alert" data-testid="partial-banner">
      <strong>{ids.length === 1 ? '1 node did not answer' : `${String(ids.length)} nodes did not answer`}:</strong>{' '}
      {ids.map((id, index) => {
        const name = names.get(id);
        return (
          <span key={id}>
            {index > 0 && ', '}
            <code>{id}</code>
            {name && name !== id && ` (${name})`}
          </span>
        );
      })}
      .{' '}
      {ids.length === 1
        ? 'Its row shows why and how old its last data is.'
        : 'Their rows show why and how old their last data is.'}
    </div>
  );
}
