/**
 * Vite's configuration of the demo (build-demo.ts runs it; `npx vite demo` serves it for
 * development, with the sync routes proxied to `npm start` on port 8080). The workspace packages
 * are bundled from their TypeScript sources (the `@oversync/source` condition), so the demo needs
 * no package build. Beside the page it builds the service worker as `sw.js`, and after writing the
 * files it gives the worker the list of files to keep for offline use.
 */
import { readFile, readdir, writeFile } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { type Plugin, defineConfig } from "vite";

const root = fileURLToPath(new URL(".", import.meta.url));
const SERVER = "http://127.0.0.1:8080";

export default defineConfig({
  root,
  base: "/demo/",
  resolve: { conditions: ["@oversync/source", "module", "browser", "development|production"] },
  worker: { format: "es" },
  server: { proxy: { "/sync": SERVER, "/syncx": SERVER, "/dummy-signin": SERVER } },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    reportCompressedSize: false,
    rollupOptions: {
      input: { index: join(root, "index.html"), sw: join(root, "src", "service-worker.ts") },
      output: {
        entryFileNames: (chunk) => (chunk.name === "sw" ? "sw.js" : "assets/[name]-[hash].js"),
      },
    },
  },
  plugins: [precacheList()],
});

/** Writes the list of built files into sw.js, replacing its placeholder (service-worker.ts). */
function precacheList(): Plugin {
  return {
    name: "oversync-demo-precache",
    apply: "build",
    async writeBundle(options) {
      const dir = options.dir;
      if (dir === undefined) throw new Error("the demo build needs an output directory");
      const files = (await readdir(dir, { recursive: true, withFileTypes: true }))
        .filter((entry) => entry.isFile())
        .map((entry) => relative(dir, join(entry.parentPath, entry.name)).split(sep).join("/"))
        .filter((file) => file !== "sw.js" && !file.endsWith(".map") && !file.startsWith("."))
        .sort();
      const worker = join(dir, "sw.js");
      const code = await readFile(worker, "utf8");
      const placeholder = /(["'`])__OVERSYNC_DEMO_PRECACHE__\1/;
      if (!placeholder.test(code)) throw new Error("sw.js has no precache placeholder");
      await writeFile(worker, code.replace(placeholder, JSON.stringify(JSON.stringify(files))));
    },
  };
}
