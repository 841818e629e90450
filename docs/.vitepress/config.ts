/**
 * The documentation site (`npm run docs:dev`, `npm run docs:build`). Code blocks come from files CI
 * runs (`<<< @/examples/file.ts#region`); the error table and the HTTP API page come from
 * docs/.generated/, which scripts/docs-generate.ts writes from the sources before each build.
 * test/docs/site.test.ts builds the site and checks every internal link and anchor.
 */
import { copyFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { join } from "node:path";
import type MarkdownIt from "markdown-it";
import { type DefaultTheme, defineConfig } from "vitepress";

/** The Shared data guide is written for issue 16; listed once it exists. */
const sharedData = existsSync(new URL("../shared-data.md", import.meta.url));

const guide: DefaultTheme.SidebarItem[] = [
  { text: "Getting started", link: "/getting-started" },
  { text: "Core concepts", link: "/concepts" },
  { text: "Server guide", link: "/server" },
  { text: "Client guide", link: "/client" },
  ...(sharedData ? [{ text: "Shared data", link: "/shared-data" }] : []),
  { text: "Schema changes", link: "/schema-changes" },
];

export default defineConfig({
  title: "oversync",
  description:
    "Two-way sync between SQLite on devices and PostgreSQL, in TypeScript (the Oversqlite protocol).",
  lang: "en",
  cleanUrls: false,
  lastUpdated: false,
  // Partials included by the Errors and HTTP API pages, not pages of their own.
  srcExclude: [".generated/**", "examples/**"],
  markdown: {
    preConfig: stripReadmeMarkers,
  },
  // The OpenAPI file the HTTP API page is rendered from, served beside it for download.
  async buildEnd(site) {
    await copyFile(join(site.srcDir, "openapi.yaml"), join(site.outDir, "openapi.yaml"));
  },
  themeConfig: {
    nav: [
      { text: "Guide", link: "/getting-started" },
      { text: "Reference", link: "/errors" },
      { text: "Operations", link: "/operations" },
    ],
    sidebar: [
      { text: "Guide", items: guide },
      {
        text: "Reference",
        items: [
          { text: "Errors", link: "/errors" },
          { text: "HTTP API", link: "/http-api" },
          { text: "OpenAPI differences", link: "/openapi-differences" },
        ],
      },
      {
        text: "Running it",
        items: [
          { text: "Operations", link: "/operations" },
          { text: "Scaling", link: "/scaling" },
          { text: "Performance", link: "/performance" },
        ],
      },
      {
        text: "Inside",
        items: [
          { text: "Architecture", link: "/architecture" },
          { text: "Interop", link: "/interop" },
        ],
      },
    ],
    outline: { level: [2, 3] },
    search: { provider: "local" },
  },
});

/**
 * The examples carry `// readme:…` markers, which the README's tests use to find the lines the
 * README quotes. An included region shows them to no reader: this drops those lines from every
 * imported snippet (it wraps the fence renderer before VitePress's snippet plugin does, so it sees
 * the file's text after the plugin has read it).
 */
function stripReadmeMarkers(md: MarkdownIt): void {
  const fence = md.renderer.rules.fence!;
  md.renderer.rules.fence = (tokens, index, options, env, self) => {
    const token = tokens[index]!;
    if ((token as { src?: unknown }).src !== undefined) {
      token.content = token.content
        .split("\n")
        .filter((line) => !/^\s*\/\/ readme:[\w-]+$/.test(line))
        .join("\n");
    }
    return fence(tokens, index, options, env, self);
  };
}
