/**
 * `@oversync/kysely`: typed queries for the oversync SQLite client. `OversyncDialect` runs Kysely
 * over the driver the sync client uses, so typed writes are captured for sync like any other, and
 * Kysely transactions are SQLite transactions on that connection; `watchQuery` and `liveQuery` take
 * a Kysely query and keep its typed rows current. packages/kysely/api/index.api.md lists this surface.
 */
export { OversyncDialect, type OversyncDialectConfig } from "./oversync-dialect.js";
export { type KyselyWatchQueryOptions, liveQuery, watchQuery } from "./live-query.js";
export type { IntegerMode } from "./sqlite-values.js";
