/**
 * The generated parts of the docs site, so they cannot drift from the code:
 * - the Errors page's tables: every wire code with its status (ERROR_STATUS), its meaning and what
 *   to do (docs-error-guide.ts) and what our client does (its `wireReaction` switch); every code of
 *   the client's error family and of the server's host-facing errors, with the doc comment its
 *   declaration carries;
 * - the HTTP API page, rendered from docs/openapi.yaml (`npm run openapi`).
 * scripts/docs-generate.ts writes them to docs/.generated/ before each docs build.
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ERROR_STATUS, type ErrorCode } from "@oversync/protocol";
import ts from "typescript";
import { parse } from "yaml";
import { type WireRequest, wireReaction } from "../packages/client/src/engine/wire-reactions.js";
import { UNDOCUMENTED_CODES, WIRE_CODE_GUIDE } from "./docs-error-guide.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const WIRE_REQUESTS: readonly WireRequest[] = ["push", "committed_rows", "pull", "snapshot", "watch"];

/** A documented code: where it comes from and its doc comment (or the guide's text). */
interface CodeDoc {
  readonly code: string;
  readonly origin: string;
  readonly doc: string;
}

/** The error tables of the Errors page (markdown, included by docs/errors.md). */
export function errorTablesMarkdown(): string {
  const program = sourceProgram();
  const reactions = unionDocs(program, "packages/client/src/engine/wire-reactions.ts", "WireReaction");
  const clientCodes = [
    ...exportedUnion(program, "packages/client/src/index.ts", "ClientErrorCode", "OversyncClientError"),
    ...exportedUnion(program, "packages/client/src/index.ts", "TransportErrorCode", "TransportError"),
    ...exportedUnion(program, "packages/client/src/index.ts", "RetryExhaustedCode", "RetryExhaustedError"),
    ...exportedUnion(
      program,
      "packages/client/src/index.ts",
      "ProtocolViolationCode",
      "ProtocolViolationError",
    ),
    ...exportedClassCodes(program, "packages/client/src/index.ts", ["HttpStatusError"]),
  ];
  const hostCodes = [
    ...exportedUnion(program, "packages/server/src/index.ts", "ServerWriteErrorCode", "ServerWriteError"),
    ...exportedClassCodes(program, "packages/server/src/index.ts", [
      "ServiceConfigError",
      "UnsupportedSchemaError",
      "SyncLayoutError",
      "DatabaseUnavailableError",
      "ScopeForbiddenError",
      "AdminAccessError",
    ]),
  ];
  checkGuide();
  const seen = new Set<string>(Object.keys(ERROR_STATUS));
  for (const { code } of [...clientCodes, ...hostCodes]) {
    if (seen.has(code))
      throw new Error(`error code ${code} is listed twice; the Errors page needs each once`);
    seen.add(code);
  }

  const wireRows = (Object.keys(ERROR_STATUS) as ErrorCode[]).map((code) => {
    const guide = WIRE_CODE_GUIDE[code];
    return row([
      anchored(code),
      String(ERROR_STATUS[code]),
      guide.meaning,
      clientReaction(code),
      guide.action,
    ]);
  });
  const reactionRows = [...reactions].map(([name, doc]) =>
    row([`<span id="reaction-${name}"></span>\`${name}\``, doc]),
  );
  const clientRows = clientCodes.map(({ code, origin, doc }) => row([anchored(code), `\`${origin}\``, doc]));
  const hostRows = hostCodes.map(({ code, origin, doc }) => row([anchored(code), `\`${origin}\``, doc]));

  return [
    "## Server answers {#wire-codes}",
    "",
    `Every error body is \`{"error": code, "message": …}\`, plus a few fields for some codes; a code is only ever sent with the status shown (\`ERROR_STATUS\` of \`@oversync/protocol\`). ${Object.keys(ERROR_STATUS).length} codes. "Client" is what \`@oversync/client\` does when it meets the code ([reactions](#client-reactions)); a code the client does not handle reaches the app as an \`OversyncError\` with that \`code\`.`,
    "",
    "| code | status | meaning | client | what to do |",
    "|---|--:|---|---|---|",
    ...wireRows,
    "",
    "### What the client does {#client-reactions}",
    "",
    "| reaction | what happens |",
    "|---|---|",
    ...reactionRows,
    "",
    "## Client errors {#client-codes}",
    "",
    `What a call of \`@oversync/client\` throws besides the server's codes: every error is a \`SyncClientError\` (\`isSyncClientError(error)\`), and \`error.code\` is one of the server codes above or one of these ${clientCodes.length}. The text is the doc comment of each code in the client's source.`,
    "",
    "| code | class | meaning and what to do |",
    "|---|---|---|",
    ...clientRows,
    "",
    "## Server errors your code meets {#host-codes}",
    "",
    "Thrown to the host's own code by `@oversync/server`: by `createSyncService` and `bootstrap()`, by `execWrite`, or thrown by your `authenticate`. The two 403 codes are the handler's own answers, sent as `{error, message}` but not protocol codes: `scope_forbidden` (thrown by your `authenticate`) and `admin_access_denied` (an admin route refused).",
    "",
    "| code | class | meaning |",
    "|---|---|---|",
    ...hostRows,
    "",
  ].join("\n");
}

/** Every wire code has a guide entry and every guide entry is a wire code. */
function checkGuide(): void {
  for (const code of Object.keys(ERROR_STATUS)) {
    if (!Object.hasOwn(WIRE_CODE_GUIDE, code)) {
      throw new Error(`wire code ${code} has no entry in scripts/docs-error-guide.ts: describe it there`);
    }
  }
  for (const code of Object.keys(WIRE_CODE_GUIDE)) {
    if (!Object.hasOwn(ERROR_STATUS, code)) {
      throw new Error(`scripts/docs-error-guide.ts describes ${code}, which is no longer a wire code`);
    }
  }
}

/** The client's reaction to `code`, per request when it depends on the request. */
function clientReaction(code: ErrorCode): string {
  const byReaction = new Map<string, WireRequest[]>();
  for (const request of WIRE_REQUESTS) {
    const reaction = wireReaction(code, request);
    byReaction.set(reaction, [...(byReaction.get(reaction) ?? []), request]);
  }
  const link = (reaction: string) => `[${reaction}](#reaction-${reaction})`;
  if (byReaction.size === 1) return link([...byReaction.keys()][0]!);
  return [...byReaction]
    .map(([reaction, requests]) => `${link(reaction)} (${requests.join(", ").replaceAll("_", " ")})`)
    .join("; ");
}

function anchored(code: string): string {
  return `<span id="${code}"></span>\`${code}\``;
}

function row(cells: readonly string[]): string {
  return `| ${cells.map((cell) => cell.replaceAll("|", "\\|").replaceAll("\n", " ")).join(" | ")} |`;
}

/** A program over the packages' sources, to read declarations and their doc comments. */
function sourceProgram(): ts.Program {
  const config = ts.readConfigFile(join(ROOT, "tsconfig.json"), ts.sys.readFile);
  const { options } = ts.parseJsonConfigFileContent(config.config, ts.sys, ROOT);
  const roots = ["packages/client/src/index.ts", "packages/server/src/index.ts"].map((file) =>
    join(ROOT, file),
  );
  const program = ts.createProgram({ rootNames: roots, options: { ...options, noEmit: true } });
  program.getTypeChecker(); // binds every file, which sets the parent links getSourceFile() follows
  return program;
}

/** The declaration `name` exported by `entry` resolves to (through re-exports). */
function exportedDeclaration(program: ts.Program, entry: string, name: string): ts.Declaration {
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(join(ROOT, entry));
  const module = source && checker.getSymbolAtLocation(source);
  const exported = module && checker.getExportsOfModule(module).find((symbol) => symbol.name === name);
  if (exported === undefined)
    throw new Error(`${entry} exports no ${name}; update scripts/docs-reference.ts`);
  const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
  const declaration = symbol.declarations?.[0];
  if (declaration === undefined) throw new Error(`${name} has no declaration`);
  return declaration;
}

/** The string literals of an exported union type with each member's doc comment. */
function exportedUnion(program: ts.Program, entry: string, name: string, origin: string): CodeDoc[] {
  const declaration = exportedDeclaration(program, entry, name);
  return [...membersOf(declaration, name)].map(([code, doc]) => ({
    code,
    origin,
    doc: doc || describeUndocumented(code, name),
  }));
}

/** Like exportedUnion for a union declared in `file` (not exported by an entry point). */
function unionDocs(program: ts.Program, file: string, name: string): Map<string, string> {
  const source = program.getSourceFile(join(ROOT, file));
  const declaration = source?.statements.find(
    (statement): statement is ts.TypeAliasDeclaration =>
      ts.isTypeAliasDeclaration(statement) && statement.name.text === name,
  );
  if (declaration === undefined)
    throw new Error(`${file} declares no ${name}; update scripts/docs-reference.ts`);
  const members = membersOf(declaration, name);
  for (const [member, doc] of members) {
    if (doc === "") throw new Error(`${name} member ${member} in ${file} has no doc comment`);
  }
  return members;
}

function membersOf(declaration: ts.Declaration, name: string): Map<string, string> {
  if (!ts.isTypeAliasDeclaration(declaration) || !ts.isUnionTypeNode(declaration.type)) {
    throw new Error(`${name} is not a union type; update scripts/docs-reference.ts`);
  }
  const text = declaration.getSourceFile().text;
  const members = new Map<string, string>();
  let from = declaration.type.getFullStart();
  for (const member of declaration.type.types) {
    if (!ts.isLiteralTypeNode(member) || !ts.isStringLiteral(member.literal)) {
      throw new Error(`${name} has a member that is not a string literal`);
    }
    members.set(member.literal.text, lastDocComment(text.slice(from, member.getStart())));
    from = member.getEnd();
  }
  return members;
}

/** Classes exported by `entry` whose `code` is one string literal, with the class's doc comment. */
function exportedClassCodes(program: ts.Program, entry: string, names: readonly string[]): CodeDoc[] {
  return names.map((name) => {
    const declaration = exportedDeclaration(program, entry, name);
    if (!ts.isClassDeclaration(declaration)) throw new Error(`${name} is not a class`);
    const code = declaration.members.find(
      (member): member is ts.PropertyDeclaration =>
        ts.isPropertyDeclaration(member) && member.name.getText() === "code",
    )?.initializer;
    if (code === undefined || !ts.isStringLiteral(code)) {
      throw new Error(`${name} has no \`readonly code = "…"\`; update scripts/docs-reference.ts`);
    }
    const text = declaration.getSourceFile().text;
    const doc =
      lastDocComment(text.slice(declaration.getFullStart(), declaration.getStart())) ||
      describeUndocumented(code.text, name);
    return { code: code.text, origin: name, doc };
  });
}

function describeUndocumented(code: string, where: string): string {
  const doc = UNDOCUMENTED_CODES[code];
  if (doc === undefined) {
    throw new Error(`${code} (${where}) has no doc comment: add one in its source or to UNDOCUMENTED_CODES`);
  }
  return doc;
}

/** The text of the last `/** … *\/` comment in `text`, on one line ("" when there is none). */
function lastDocComment(text: string): string {
  const start = text.lastIndexOf("/**");
  if (start === -1) return "";
  const end = text.indexOf("*/", start);
  return text
    .slice(start + 3, end)
    .split("\n")
    .map((line) => line.replace(/^\s*\*?\s?/, "").trim())
    .filter((line) => line !== "")
    .join(" ");
}

// ---------------------------------------------------------------------------------------------
// HTTP API

type Schema = Record<string, unknown>;
interface OpenApi {
  readonly info: { readonly title: string; readonly description?: string };
  readonly tags: readonly { readonly name: string; readonly description?: string }[];
  readonly paths: Record<string, Record<string, Operation>>;
  readonly components: {
    readonly schemas: Record<string, Schema>;
    readonly parameters: Record<string, Parameter>;
  };
}
interface Operation {
  readonly operationId: string;
  readonly summary?: string;
  readonly description?: string;
  readonly tags?: readonly string[];
  readonly security?: readonly unknown[];
  readonly parameters?: readonly (Parameter | { readonly $ref: string })[];
  readonly requestBody?: {
    readonly required?: boolean;
    readonly content: Record<string, { schema?: Schema }>;
  };
  readonly responses: Record<
    string,
    { readonly description: string; readonly content?: Record<string, Schema> }
  >;
}
interface Parameter {
  readonly name: string;
  readonly in: string;
  readonly required?: boolean;
  readonly description?: string;
  readonly schema?: Schema;
}

/** The HTTP API page's reference part, from the OpenAPI document (docs/openapi.yaml by default). */
export function httpApiMarkdown(yamlText = readFileSync(join(ROOT, "docs", "openapi.yaml"), "utf8")): string {
  const api = parse(yamlText) as OpenApi;
  const lines: string[] = [];
  for (const tag of api.tags) {
    lines.push(`## ${capitalize(tag.name)} endpoints {#tag-${tag.name}}`, "");
    if (tag.description) lines.push(tag.description, "");
    for (const [path, operations] of Object.entries(api.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        if (!(operation.tags ?? []).includes(tag.name)) continue;
        lines.push(...operationMarkdown(api, method.toUpperCase(), path, operation));
      }
    }
  }
  lines.push("## Schemas {#schemas}", "");
  lines.push("The bodies above, as JSON Schema (2020-12) describes them in the OpenAPI file.", "");
  for (const [name, schema] of Object.entries(api.components.schemas)) {
    lines.push(`### ${name} {#schema-${name.toLowerCase()}}`, "");
    if (typeof schema.description === "string") lines.push(schema.description, "");
    lines.push(...schemaTable(schema), "");
  }
  return lines.join("\n");
}

function operationMarkdown(api: OpenApi, method: string, path: string, operation: Operation): string[] {
  const lines = [`### \`${method} ${path}\` {#${operation.operationId.toLowerCase()}}`, ""];
  const about = [operation.summary, operation.description].filter(Boolean).join(". ");
  if (about) lines.push(`${about}.`, "");
  lines.push(
    (operation.security ?? []).length > 0
      ? "Authentication: `Authorization: Bearer <token>` (whatever the host's `authenticate` accepts)."
      : "Authentication: none.",
    "",
  );
  const parameters = (operation.parameters ?? []).map((parameter) =>
    "$ref" in parameter ? api.components.parameters[parameter.$ref.split("/").at(-1)!]! : parameter,
  );
  if (parameters.length > 0) {
    lines.push("| parameter | in | required | type | notes |", "|---|---|---|---|---|");
    for (const parameter of parameters) {
      lines.push(
        row([
          `\`${parameter.name}\``,
          parameter.in,
          parameter.required ? "yes" : "no",
          typeOf(parameter.schema ?? {}),
          [parameter.description ?? "", constraints(parameter.schema ?? {})].filter(Boolean).join("; "),
        ]),
      );
    }
    lines.push("");
  }
  if (operation.requestBody) {
    const [contentType, media] = Object.entries(operation.requestBody.content)[0]!;
    lines.push(
      `Request body (\`${contentType}\`${operation.requestBody.required ? "" : ", optional"}): ${typeOf(media.schema ?? {})}.`,
      "",
    );
  }
  lines.push("| status | meaning | body |", "|--:|---|---|");
  for (const [status, response] of Object.entries(operation.responses)) {
    const [contentType, media] = Object.entries(response.content ?? {})[0] ?? [];
    let body = "—";
    if (media !== undefined) {
      const schema = (media.schema ?? {}) as Schema;
      const eventData = media["x-event-data"] as Schema | undefined;
      body =
        eventData !== undefined
          ? `\`${contentType}\` of ${typeOf(eventData)} events`
          : errorCodesOf(schema) === undefined
            ? typeOf(schema)
            : typeOf({ $ref: schema.$ref });
    }
    lines.push(row([status, linkErrorCodes(response.description), body]));
  }
  lines.push("");
  return lines;
}

/** The codes an error response's schema narrows `error` to, if it does. */
function errorCodesOf(schema: Schema): readonly string[] | undefined {
  const error = (schema.properties as Record<string, Schema> | undefined)?.error;
  return error?.enum as readonly string[] | undefined;
}

/** `code` spans of known error codes become links to the Errors page. */
function linkErrorCodes(text: string): string {
  return text.replace(/`([a-z_]+)`/g, (match, code: string) =>
    Object.hasOwn(ERROR_STATUS, code) ? `[\`${code}\`](/errors#${code})` : match,
  );
}

function schemaTable(schema: Schema): string[] {
  const properties = schema.properties as Record<string, Schema> | undefined;
  if (properties === undefined) return [`${typeOf(schema)}${suffix(constraints(schema))}`];
  const lines = ["| member | type | required | notes |", "|---|---|---|---|"];
  const walk = (prefix: string, object: Schema) => {
    const required = new Set((object.required as string[] | undefined) ?? []);
    for (const [name, member] of Object.entries((object.properties as Record<string, Schema>) ?? {})) {
      const notes = [typeof member.description === "string" ? member.description : "", constraints(member)];
      lines.push(
        row([
          `\`${prefix}${name}\``,
          typeOf(member),
          required.has(name) ? "yes" : "no",
          notes.filter(Boolean).join("; "),
        ]),
      );
      if (member.type === "object" && member.properties !== undefined) walk(`${prefix}${name}.`, member);
    }
  };
  walk("", schema);
  if (schema.additionalProperties === false) lines.push("", "Other members are refused.");
  return lines;
}

/** A schema's type in a few words, with links to named schemas. */
function typeOf(schema: Schema): string {
  if (typeof schema.$ref === "string") {
    const name = schema.$ref.split("/").at(-1)!;
    return `[${name}](#schema-${name.toLowerCase()})`;
  }
  const variants = (schema.anyOf ?? schema.oneOf) as Schema[] | undefined;
  if (variants !== undefined)
    return [...new Set(variants.flatMap((v) => typeOf(v).split(" or ")))].join(" or ");
  if (schema.const !== undefined) return `\`${JSON.stringify(schema.const)}\``;
  if (Array.isArray(schema.enum))
    return schema.enum.map((value) => `\`${JSON.stringify(value)}\``).join(", ");
  const type = schema.type;
  if (Array.isArray(type)) return type.join(" or ");
  if (type === "array") return `array of ${typeOf((schema.items as Schema) ?? {})}`;
  if (
    type === "object" &&
    schema.properties === undefined &&
    typeof schema.additionalProperties === "object"
  ) {
    return `object of ${typeOf(schema.additionalProperties as Schema)}`;
  }
  if (type === "integer" && typeof schema.format === "string") return `integer (${schema.format})`;
  return typeof type === "string" ? type : "any";
}

function constraints(schema: Schema): string {
  const parts: string[] = [];
  if (schema.minimum !== undefined) parts.push(`≥ ${schema.minimum}`);
  if (schema.maximum !== undefined) parts.push(`≤ ${schema.maximum}`);
  if (schema.minLength !== undefined) parts.push(`at least ${schema.minLength} characters`);
  if (schema.maxLength !== undefined) parts.push(`at most ${schema.maxLength} characters`);
  if (schema.minItems !== undefined) parts.push(`at least ${schema.minItems} items`);
  if (schema.maxItems !== undefined) parts.push(`at most ${schema.maxItems} items`);
  if (schema.minProperties !== undefined && schema.minProperties === schema.maxProperties) {
    parts.push(`exactly ${schema.minProperties} member${schema.minProperties === 1 ? "" : "s"}`);
  }
  if (typeof schema.pattern === "string" && schema.pattern !== "\\S")
    parts.push(`pattern \`${schema.pattern}\``);
  if (typeof schema.pattern === "string" && schema.pattern === "\\S") parts.push("not blank");
  return parts.join(", ");
}

function suffix(text: string): string {
  return text === "" ? "" : ` (${text})`;
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
