/**
 * `@oversync/react`: React bindings of `@oversync/client`. Put the client in
 * `<OversyncProvider client={client}>`; below it, `useQuery(sql, params)` keeps a query's rows
 * current (re-rendering after local writes and applied sync to the tables it reads) and
 * `useSyncStatus()` the client's status. packages/react/api/index.api.md lists this surface.
 */
export { OversyncProvider, type OversyncProviderProps, useOversyncClient } from "./provider.js";
export { type QueryState, type UseQueryOptions, useQuery } from "./use-query.js";
export { useSyncStatus } from "./use-sync-status.js";
