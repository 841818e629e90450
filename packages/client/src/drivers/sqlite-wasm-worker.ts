/**
 * The worker half of `@oversync/client/sqlite-wasm`: loading this module in a dedicated module
 * Worker makes it serve the driver's requests. SQLite runs here on the `opfs-sahpool` VFS, whose
 * synchronous OPFS access handles exist only in workers and need no COOP/COEP headers.
 *
 * One worker serves any number of connections. A pool's access handles are exclusive to one
 * worker, so all connections of a page to one pool share a worker, and SQLite's locks between them
 * are the pool's in-worker locks (a second connection sees SQLITE_BUSY as on a real file).
 */
import sqlite3InitModule from "@sqlite.org/sqlite-wasm";
import {
  CHANNEL,
  type FunctionCall,
  type WorkerFailure,
  type WorkerReply,
  type WorkerRequest,
  type WorkerResults,
} from "./sqlite-wasm-messages.js";
import type { RunResult, SqliteRow, SqliteValue } from "./sqlite-driver.js";
import { StatementCache } from "./statement-cache.js";

type Sqlite3 = Awaited<ReturnType<typeof sqlite3InitModule>>;
type PoolUtil = Awaited<ReturnType<Sqlite3["installOpfsSAHPoolVfs"]>>;
type Database = InstanceType<Sqlite3["oo1"]["DB"]>;
type Statement = ReturnType<Database["prepare"]>;

/** The part of a dedicated worker's global scope this module uses (the DOM lib types `self` as a window). */
interface WorkerScope {
  addEventListener(type: "message", listener: (event: MessageEvent<unknown>) => void): void;
  postMessage(message: WorkerReply, transfer: Transferable[]): void;
}

interface Connection {
  readonly db: Database;
  readonly statements: StatementCache<Statement>;
  /** Function pointers installed in the wasm table, by SQL function name. */
  readonly functions: Map<string, number>;
  readonly pool: Pool | undefined;
}

interface Pool {
  readonly util: PoolUtil;
  connections: number;
}

/** A SQLite failure raised here, with SQLite's message and result code. */
class SqliteFailure extends Error {
  constructor(
    message: string,
    readonly resultCode: number,
  ) {
    super(message);
  }
}

/** Another tab or worker holds the pool's access handles. */
class PoolBusy extends Error {}

const scope = globalThis as unknown as WorkerScope;
const connections = new Map<number, Connection>();
const pools = new Map<string, Pool>();
let nextConnection = 1;
let loading: Promise<Sqlite3> | undefined;
let api: Sqlite3 | undefined;
/** Opens and closes run one at a time: a pool must not be paused while another open acquires it. */
let lifecycle: Promise<unknown> = Promise.resolve();
/** Filled while a request runs: SQL function calls and the blob buffers the reply can transfer. */
let calls: FunctionCall[] = [];
let transfer: ArrayBuffer[] = [];

type Outcome =
  | { ok: true; result: WorkerResults[keyof WorkerResults] }
  | { ok: false; failure: WorkerFailure };

scope.addEventListener("message", (event) => {
  const request = event.data as WorkerRequest | undefined;
  if (request?.channel !== CHANNEL) return;
  if (request.op === "open" || request.op === "close") {
    lifecycle = lifecycle.then(async () => {
      let outcome: Outcome;
      try {
        outcome = { ok: true, result: request.op === "open" ? await open(request) : close(request) };
      } catch (error) {
        outcome = { ok: false, failure: failureOf(error) };
      }
      answer(request.id, outcome);
    });
    return;
  }
  // Statements run and answer within this task, so the calls and buffers they collected cannot
  // end up in the answer to another request.
  try {
    answer(request.id, { ok: true, result: serve(request) });
  } catch (error) {
    answer(request.id, { ok: false, failure: failureOf(error) });
  }
});

function answer(id: number, outcome: Outcome): void {
  const reply: WorkerReply = { channel: CHANNEL, id, calls, ...outcome };
  const transferable = transfer;
  calls = [];
  transfer = [];
  scope.postMessage(reply, transferable);
}

function serve(
  request: Exclude<WorkerRequest, { op: "open" | "close" }>,
): WorkerResults[keyof WorkerResults] {
  const connection = connections.get(request.connection);
  if (connection === undefined) {
    throw new Error(`connection ${request.connection} is not open in this worker`);
  }
  const { capi } = loaded();
  const pointer = connection.db.pointer!;
  try {
    switch (request.op) {
      case "exec":
        check(pointer, capi.sqlite3_exec(pointer, request.sql, 0, 0, 0));
        return null;
      case "all":
        return all(connection, request.sql, request.params);
      case "run":
        return run(connection, request.sql, request.params);
      case "createFunction":
        createFunction(connection, request.name);
        return null;
    }
  } catch (error) {
    // SQLite's message for the connection is exact (oo1 prefixes its own text to it).
    const resultCode = (error as { resultCode?: unknown }).resultCode;
    if (typeof resultCode === "number" && !(error instanceof SqliteFailure)) {
      throw new SqliteFailure(capi.sqlite3_errmsg(pointer), resultCode);
    }
    throw error;
  }
}

async function open(request: Extract<WorkerRequest, { op: "open" }>): Promise<WorkerResults["open"]> {
  const sqlite3 = await load();
  const { filename } = request;
  let db: Database;
  let pool: Pool | undefined;
  if (filename === "" || filename === ":memory:") {
    db = new sqlite3.oo1.DB(filename);
  } else {
    pool = await acquirePool(sqlite3, request.pool);
    if (pool === undefined) {
      // OPFS is unavailable here: a memdb file shared by this worker's connections to the name,
      // kept until the last of them closes. The driver reports `persistence: "memory"`.
      db = new sqlite3.oo1.DB({ filename: `/${filename.replace(/^\/+/, "")}`, vfs: "memdb" });
    } else {
      db = await openInPool(pool, filename);
    }
  }
  const id = nextConnection++;
  connections.set(id, {
    db,
    pool,
    functions: new Map(),
    statements: new StatementCache(
      (sql) => db.prepare(sql),
      256,
      (statement) => statement.finalize(),
    ),
  });
  return { connection: id, persistence: pool === undefined ? "memory" : "opfs" };
}

async function openInPool(pool: Pool, filename: string): Promise<Database> {
  try {
    // A slot per file: the database and, while a connection writes, its rollback journal (temp
    // files stay in memory: the build's SQLITE_TEMP_STORE is 2), with room to spare.
    await pool.util.reserveMinimumCapacity(pool.util.getFileCount() + pool.connections + 4);
    const db = new pool.util.OpfsSAHPoolDb(filename);
    pool.connections += 1;
    return db;
  } catch (error) {
    if (pool.connections === 0) pool.util.pauseVfs();
    throw error;
  }
}

function close(request: Extract<WorkerRequest, { op: "close" }>): null {
  const connection = connections.get(request.connection);
  if (connection === undefined) return null;
  connections.delete(request.connection);
  connection.statements.clear();
  connection.db.close();
  for (const pointer of connection.functions.values()) loaded().wasm.uninstallFunction(pointer);
  const pool = connection.pool;
  if (pool !== undefined) {
    pool.connections -= 1;
    // Releasing the access handles lets another tab, or this page's next worker, open the pool.
    if (pool.connections === 0) pool.util.pauseVfs();
  }
  return null;
}

/**
 * The pool, installed or resumed; undefined when this browser cannot give the worker OPFS access
 * handles (no API, or storage denied as in some private modes).
 */
async function acquirePool(sqlite3: Sqlite3, name: string): Promise<Pool | undefined> {
  const handles = globalThis.FileSystemFileHandle?.prototype as
    | { createSyncAccessHandle?: unknown }
    | undefined;
  if (typeof handles?.createSyncAccessHandle !== "function" || !navigator.storage?.getDirectory) {
    return undefined;
  }
  const known = pools.get(name);
  try {
    if (known !== undefined) {
      if (known.util.isPaused()) await known.util.unpauseVfs();
      return known;
    }
    // preserveOnInitFailure: a failed start (the pool busy elsewhere) must never delete its files.
    // forceReinitIfPreviouslyFailed (documented, missing from the package's types): try again
    // rather than answer the failure the worker cached.
    const install = { name, preserveOnInitFailure: true, forceReinitIfPreviouslyFailed: true };
    const util = await sqlite3.installOpfsSAHPoolVfs(install);
    const pool = { util, connections: 0 };
    pools.set(name, pool);
    return pool;
  } catch (error) {
    const kind = (error as { name?: unknown }).name;
    if (kind === "SecurityError") return undefined;
    if (kind === "NoModificationAllowedError") throw new PoolBusy(String((error as Error).message));
    throw error;
  }
}

function all(connection: Connection, sql: string, params: readonly SqliteValue[]): SqliteRow[] {
  const { capi } = loaded();
  const statement = connection.statements.get(sql);
  const pointer = statement.pointer!;
  try {
    bind(connection, statement, params);
    const names = Array.from({ length: capi.sqlite3_column_count(pointer) }, (_, index) =>
      capi.sqlite3_column_name(pointer, index),
    );
    const rows: SqliteRow[] = [];
    while (step(connection, pointer)) {
      const row: Record<string, SqliteValue> = {};
      names.forEach((name, index) => {
        row[name ?? ""] = readValue(capi.sqlite3_column_value(pointer, index));
      });
      rows.push(row);
    }
    return rows;
  } finally {
    statement.resetNoThrow(true);
  }
}

function run(connection: Connection, sql: string, params: readonly SqliteValue[]): RunResult {
  const { capi } = loaded();
  const db = connection.db.pointer!;
  const statement = connection.statements.get(sql);
  const pointer = statement.pointer!;
  try {
    bind(connection, statement, params);
    // sqlite3_changes() keeps the last data change's count; a statement that changed nothing reports 0.
    const totalBefore = capi.sqlite3_total_changes(db);
    while (step(connection, pointer)) {}
    const changed = capi.sqlite3_total_changes(db) !== totalBefore;
    return {
      changes: changed ? capi.sqlite3_changes(db) : 0,
      lastInsertRowid: BigInt(capi.sqlite3_last_insert_rowid(db)),
    };
  } finally {
    statement.resetNoThrow(true);
  }
}

/** One step; true when it produced a row. */
function step(connection: Connection, statement: number): boolean {
  const { capi } = loaded();
  const rc = capi.sqlite3_step(statement);
  if (rc === capi.SQLITE_ROW) return true;
  if (rc === capi.SQLITE_DONE) return false;
  throw new SqliteFailure(capi.sqlite3_errmsg(connection.db.pointer!), rc);
}

/**
 * Binds by type, as the driver contract says: a JS number always as REAL (sqlite-wasm's own bind
 * would store an integral number as INTEGER), bigint as INTEGER, Uint8Array as BLOB.
 */
function bind(connection: Connection, statement: Statement, params: readonly SqliteValue[]): void {
  const { capi, wasm } = loaded();
  const pointer = statement.pointer!;
  params.forEach((value, index) => {
    const position = index + 1;
    let rc: number;
    if (typeof value === "number") rc = capi.sqlite3_bind_double(pointer, position, value);
    else if (typeof value === "bigint") rc = capi.sqlite3_bind_int64(pointer, position, value);
    // The raw export: the package's sqlite3_bind_null wrapper drops the result code. Past the last
    // parameter it answers SQLITE_RANGE with SQLite's own message.
    else if (value === null || position > capi.sqlite3_bind_parameter_count(pointer)) {
      rc = wasm.exports.sqlite3_bind_null(pointer, position) as number;
    } else {
      // oo1 copies strings (as UTF-8) and bytes into wasm memory that SQLite frees.
      statement.bind(position, value);
      rc = 0;
    }
    check(connection.db.pointer!, rc);
  });
}

function check(db: number, rc: number): void {
  if (rc !== 0) throw new SqliteFailure(loaded().capi.sqlite3_errmsg(db), rc);
}

/** A column or argument value, INTEGER as bigint and BLOB as a fresh Uint8Array. */
function readValue(value: number): SqliteValue {
  const { capi, wasm } = loaded();
  switch (capi.sqlite3_value_type(value)) {
    case capi.SQLITE_INTEGER:
      return BigInt(capi.sqlite3_value_int64(value));
    case capi.SQLITE_FLOAT:
      return capi.sqlite3_value_double(value) as number;
    case capi.SQLITE_TEXT:
      return capi.sqlite3_value_text(value) ?? "";
    case capi.SQLITE_BLOB: {
      const start = Number(capi.sqlite3_value_blob(value));
      const bytes = wasm.heap8u().slice(start, start + (capi.sqlite3_value_bytes(value) as number));
      transfer.push(bytes.buffer);
      return bytes;
    }
    default:
      return null;
  }
}

/**
 * Registers a stand-in for a JS function that lives on the main thread, which cannot run inside a
 * statement here. It records each call (with exact values) for the reply to this request, and the
 * driver invokes the JS function with them before the request's promise resolves, so calls keep
 * their order relative to the statements. SQL sees NULL as the result: a JS function's return
 * value cannot cross the worker, which suits the engine's notification functions (they return null).
 */
function createFunction(connection: Connection, name: string): void {
  const { capi, wasm } = loaded();
  // The pointer helpers of sqlite-wasm 3.54 (`wasm.ptrSizeof` of the package's types is gone).
  const { ptr } = wasm as unknown as { ptr: { size: number; add(...addends: number[]): number } };
  const pointer = wasm.installFunction("v(pip)", (context: number, argc: number, argv: number) => {
    const args: SqliteValue[] = [];
    for (let index = 0; index < argc; index++) {
      args.push(readValue(Number(wasm.peekPtr(ptr.add(argv, ptr.size * index)))));
    }
    calls.push([name, args]);
    capi.sqlite3_result_null(context);
  });
  const db = connection.db.pointer!;
  const rc = capi.sqlite3_create_function_v2(db, name, -1, capi.SQLITE_UTF8, 0, pointer, 0, 0, 0);
  if (rc !== 0) {
    wasm.uninstallFunction(pointer);
    check(db, rc);
  }
  const replaced = connection.functions.get(name);
  if (replaced !== undefined) wasm.uninstallFunction(replaced);
  connection.functions.set(name, pointer);
}

function failureOf(error: unknown): WorkerFailure {
  if (error instanceof SqliteFailure) {
    return { kind: "sqlite", message: error.message, resultCode: error.resultCode };
  }
  if (error instanceof PoolBusy) return { kind: "pool_busy", message: error.message };
  // Opening a database fails as an oo1 SQLite3Error (e.g. SQLITE_CANTOPEN): still SQLite's failure.
  const resultCode = (error as { resultCode?: unknown } | undefined)?.resultCode;
  if (error instanceof Error && typeof resultCode === "number") {
    return { kind: "sqlite", message: error.message, resultCode };
  }
  return {
    kind: "error",
    message: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
  };
}

function load(): Promise<Sqlite3> {
  loading ??= sqlite3InitModule().then((loaded) => {
    api = loaded;
    return loaded;
  });
  return loading;
}

/** The API, once an open has loaded it (every other request follows an open). */
function loaded(): Sqlite3 {
  if (api === undefined) throw new Error("sqlite-wasm is not loaded yet");
  return api;
}
