import { useQuery } from '@tanstack/react-query';
import { fetchNodeMeta, fetchRuntimeList } from '../api/client';
import { useTransport } from '../api/TransportContext';

const REFRESH_MS = 30_000;

/** The cluster's runtime, refetched every 30 s; the previous answer stays on screen meanwhile. */
export function useRuntimeList() {
  const transport = useTransport();
  return useQuery({
    queryKey: ['nodes', 'runtime'],
    queryFn: ({ signal }) => fetchRuntimeList(transport, signal),
    refetchInterval: REFRESH_MS,
  });
}

/** Static metadata from the cluster file: fetched beside the runtime, rarely changes. */
export function useNodeMeta() {
  const transport = useTransport();
  return useQuery({
    queryKey: ['nodes', 'meta'],
    queryFn: ({ signal }) => fetchNodeMeta(transport, signal),
    staleTime: 5 * 60_000,
  });
}
