import { defineConfig } from "vitest/config";

/**
 * The workspace packages' `exports` point at their built `dist/` files, and at their TypeScript
 * sources under this condition, so tests run the sources without a build step.
 */
const SOURCE_CONDITION = "@oversync/source";

export default defineConfig({
  // Tests run in Vite's server (SSR) environment; the rest are Vite's defaults for it.
  ssr: { resolve: { conditions: [SOURCE_CONDITION, "node", "development|production"] } },
  // Tests in a DOM environment (`// @vitest-environment jsdom`, the React hooks) run in Vite's client
  // environment, whose conditions are these (Vite's defaults for it after ours).
  resolve: { conditions: [SOURCE_CONDITION, "module", "browser", "development|production"] },
  test: {
    include: ["packages/*/src/**/*.test.ts", "test/**/*.test.ts"],
    // Native SQLite bindings and PostgreSQL pools behave best in separate processes.
    pool: "forks",
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
