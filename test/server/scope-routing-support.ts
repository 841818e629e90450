/**
 * What the scope-routing test needs: a pool that records every statement the runtime sends with the
 * places in `packages/server/src` it came from, the list of every place there that sends one (found
 * in the sources), and a check that a statement constrains each `sync.*` or registered table it
 * names by that table's scope key, which is what keeps it routable to one shard of a cluster
 * distributed by scope (docs/scaling.md).
 */
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { SqlClient, SqlPool } from "@oversync/server";
import type pg from "pg";
import ts from "typescript";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
/** The runtime's sources; places are named by their path below it, e.g. `push/push-commit.ts:101`. */
export const SERVER_SRC = join(repoRoot, "packages/server/src");

/** One statement the runtime sent, with every place in the server sources on its stack (innermost first). */
export interface RecordedStatement {
  readonly text: string;
  readonly places: readonly string[];
}

/** The server-source places on the current stack, innermost first. */
function serverPlaces(): string[] {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 100;
  const stack = new Error().stack ?? "";
  Error.stackTraceLimit = limit;
  const places: string[] = [];
  for (const match of stack.matchAll(/\(?(\/[^\s()]+\.ts):(\d+):\d+\)?$/gm)) {
    const file = match[1]!;
    if (!file.startsWith(`${SERVER_SRC}/`) || file.endsWith(".test.ts")) continue;
    places.push(`${relative(SERVER_SRC, file)}:${match[2]}`);
  }
  return places;
}

/** A statement as node-postgres takes it: its text, or a named statement (db/named-statements.ts). */
type Statement = string | { readonly text: string };

/** Something with node-postgres' `query(statement, values)`. */
interface Queryable {
  query(statement: Statement, values?: unknown[]): Promise<unknown>;
}

/** Wraps `target.query` so every call is recorded in `sink` first. */
function recorded<T extends Queryable>(target: T, sink: RecordedStatement[]): T["query"] {
  const query = target.query.bind(target);
  return ((statement: Statement, values?: unknown[]) => {
    sink.push({ text: typeof statement === "string" ? statement : statement.text, places: serverPlaces() });
    return query(statement, values);
  }) as T["query"];
}

/** `pool` as a SqlPool whose sessions and one-shot queries record every statement in `sink`. */
export function recordingPool(pool: pg.Pool, sink: RecordedStatement[]): SqlPool {
  return {
    query: recorded(pool, sink) as SqlPool["query"],
    async connect(): Promise<SqlClient> {
      const client = await pool.connect();
      return {
        query: recorded(client, sink) as SqlClient["query"],
        release: (error) => client.release(error),
        on: (event, listener) => client.on(event, listener),
        removeListener: (event, listener) => client.removeListener(event, listener),
      };
    },
    on: (event, listener) => pool.on(event, listener as never),
  };
}

/** A node-postgres client whose statements (the LISTEN session's) are recorded in `sink`. */
export function recordingClient(client: pg.Client, sink: RecordedStatement[]): pg.Client {
  client.query = recorded(client as Queryable, sink) as pg.Client["query"];
  return client;
}

/**
 * Every place in the server sources (tests excluded) that sends a statement: each call of a method
 * named `query`, at the line of the name (where V8 reports the call), with the name of the function
 * declaration or method it sits in.
 */
export function statementPlaces(): ReadonlyMap<string, string> {
  if (scanned !== undefined) return scanned;
  const places = new Map<string, string>();
  const visitDir = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) visitDir(path);
      else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".test.ts")) visitFile(path);
    }
  };
  const visitFile = (path: string) => {
    const source = ts.createSourceFile(path, readFileSync(path, "utf8"), ts.ScriptTarget.Latest, true);
    const visit = (node: ts.Node) => {
      if (
        ts.isCallExpression(node) &&
        ts.isPropertyAccessExpression(node.expression) &&
        node.expression.name.text === "query"
      ) {
        const line = source.getLineAndCharacterOfPosition(node.expression.name.getStart(source)).line + 1;
        places.set(`${relative(SERVER_SRC, path)}:${line}`, enclosingName(node));
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  };
  visitDir(SERVER_SRC);
  scanned = places;
  return places;
}

/** statementPlaces' answer, read once per test file. */
let scanned: ReadonlyMap<string, string> | undefined;

/** The name of the nearest named function declaration or method around `node` ("" at top level). */
function enclosingName(node: ts.Node): string {
  for (let at = node.parent; at !== undefined; at = at.parent) {
    if ((ts.isFunctionDeclaration(at) || ts.isMethodDeclaration(at)) && at.name !== undefined) {
      return at.name.getText();
    }
  }
  return "";
}

/** A table a statement must constrain by scope, with the columns that hold the scope's key. */
export interface ScopedTable {
  /** Lower-case `schema.table`. */
  readonly name: string;
  /** Empty for a table that has no scope key at all. */
  readonly scopeColumns: readonly string[];
}

/** The scope key of each `sync.*` table (schema/sync-layout.ts); any other `sync.*` name has none. */
export const SYNC_SCOPE_COLUMNS: Readonly<Record<string, readonly string[]>> = {
  user_state: ["user_pk", "user_id"],
  source_state: ["user_pk"],
  row_state: ["user_pk"],
  bundle_log: ["user_pk"],
  bundle_rows: ["user_pk"],
  push_sessions: ["user_pk"],
  snapshot_sessions: ["user_pk"],
};

/** Keywords that can follow a table name where an alias could stand. */
const NOT_AN_ALIAS = new Set(
  `where set on using join left right full inner cross natural order group limit offset returning values
   select for with union except intersect window having default and or as lateral do`.split(/\s+/),
);

/**
 * The text a statement is checked in: comments and string literals blanked (a name inside
 * `nextval('sync.x')` or a JSON key is no reference), quotes dropped from simple lower-case
 * identifiers (`"sync".meta` is `sync.meta`), whitespace collapsed.
 */
export function normalizeSql(sql: string): string {
  return sql
    .replace(/--[^\n]*/g, " ")
    .replace(/\/\*[\s\S]*?\*\//g, " ")
    .replace(/'(?:[^']|'')*'/g, "''")
    .replace(/"([a-z_][a-z0-9_]*)"/g, "$1")
    .replace(/\s+/g, " ")
    .trim();
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** A comparison of `column` (as written: `alias.col`, `table.col` or bare `col`) with a bind parameter. */
function boundBy(sql: string, qualifiers: readonly string[], column: string, allowBare: boolean): boolean {
  const compared = String.raw`\s*(?:=\s*(?:ANY\s*\(\s*)?\$\d|IN\s*\(\s*\$\d)`;
  const qualified = qualifiers.map((q) => `\\b${escapeRegExp(q)}\\.${column}`);
  if (allowBare) qualified.push(`(?<![\\w.])${column}`);
  return qualified.some((prefix) => new RegExp(`${prefix}${compared}`, "i").test(sql));
}

/**
 * Why `sql` is not routable by scope: one entry per mention of a `sync.*` or registered table that
 * is not constrained by its scope key. A mention counts as constrained when it stands after FROM,
 * JOIN, UPDATE or USING and the statement compares its scope column (qualified by its alias when it
 * has one) with a bind parameter (`= $n`, `= ANY($n)`, `IN ($n, …)`), or after INSERT INTO with its
 * scope column in the column list. Any other mention (DDL, VACUUM, a table with no scope key) is a
 * problem, so the allow-list must name it.
 */
export function scopeProblems(sql: string, registered: readonly ScopedTable[]): string[] {
  const text = normalizeSql(sql);
  const tables = new Map<string, readonly string[]>(
    registered.map((table) => [table.name, table.scopeColumns]),
  );
  for (const match of text.matchAll(/\bsync\.([a-z_][a-z0-9_]*)\b/gi)) {
    const name = `sync.${match[1]!.toLowerCase()}`;
    tables.set(name, SYNC_SCOPE_COLUMNS[match[1]!.toLowerCase()] ?? []);
  }
  const problems: string[] = [];
  for (const [name, columns] of tables) {
    const pattern = escapeRegExp(name);
    const mentions = [...text.matchAll(new RegExp(`\\b${pattern}\\b`, "gi"))].length;
    if (mentions === 0) continue;
    const occurrences = [
      ...text.matchAll(
        new RegExp(
          `\\b(FROM|JOIN|UPDATE|USING|INTO)\\s+${pattern}\\b(?:\\s+(?:AS\\s+)?([a-z_][a-z0-9_]*))?`,
          "gi",
        ),
      ),
    ];
    for (const occurrence of occurrences) {
      const keyword = occurrence[1]!.toUpperCase();
      const alias =
        occurrence[2] !== undefined && !NOT_AN_ALIAS.has(occurrence[2].toLowerCase())
          ? occurrence[2]
          : undefined;
      let constrained: boolean;
      if (keyword === "INTO") {
        const list = new RegExp(`\\bINTO\\s+${pattern}\\s*\\(([^)]*)\\)`, "i").exec(text)?.[1] ?? "";
        const listed = list.split(",").map((column) => column.trim().toLowerCase());
        constrained = columns.some((column) => listed.includes(column));
      } else {
        const qualifiers = alias === undefined ? [name] : [alias];
        constrained = columns.some((column) => boundBy(text, qualifiers, column, alias === undefined));
      }
      if (!constrained) {
        problems.push(
          columns.length === 0
            ? `${name} has no scope key`
            : `${name}${alias === undefined ? "" : ` ${alias}`} after ${keyword} is not constrained by ${columns.join(" or ")}`,
        );
      }
    }
    if (mentions > occurrences.length) {
      problems.push(`${name} is named outside FROM, JOIN, UPDATE, USING or INSERT INTO`);
    }
  }
  return problems;
}
