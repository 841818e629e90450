/**
 * The Node flags that run a workspace script from its TypeScript sources: tsx compiles the files,
 * and the `@oversync/source` export condition makes `@oversync/*` imports resolve to each package's
 * `src/` instead of its built `dist/`, as vitest and `npm start` do.
 */
export const RUN_FROM_SOURCE = ["--conditions=@oversync/source", "--import", "tsx"] as const;
