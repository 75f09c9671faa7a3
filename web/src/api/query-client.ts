import { QueryCache, QueryClient } from '@tanstack/react-query';
import { ApiError, isUnauthorized } from './client';

/** The app's query cache: any 401 asks for a token; a 4xx is not retried (it would not change). */
export function createQueryClient(onUnauthorized: () => void, retry = 2): QueryClient {
  return new QueryClient({
    queryCache: new QueryCache({
      onError: (error) => {
        if (isUnauthorized(error)) onUnauthorized();
      },
    }),
    defaultOptions: {
      queries: {
        retry: (failures, error) =>
          !(error instanceof ApiError && error.status >= 400 && error.status < 500) && failures < retry,
      },
    },
  });
}
