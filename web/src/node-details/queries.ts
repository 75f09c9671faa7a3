import { useQuery } from '@tanstack/react-query';
import { fetchNodeDetail } from '../api/client';
import { EVENTS_CAP } from '../api/stream-reducer';
import { useTransport } from '../api/TransportContext';

/**
 * The node's detail by plain GET: the first paint, before the stream's snapshot
 * arrives (and the answer that tells "not found" apart). The stream keeps it fresh,
 * so it is not refetched.
 */
export function useNodeDetail(nodeId: string) {
  const transport = useTransport();
  return useQuery({
    queryKey: ['node', nodeId, 'detail'],
    queryFn: ({ signal }) => fetchNodeDetail(transport, nodeId, EVENTS_CAP, signal),
    staleTime: Number.POSITIVE_INFINITY,
    retry: false,
  });
}
