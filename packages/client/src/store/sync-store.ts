/**
 * Opening the local runtime and the transaction scopes the engine works in.
 *
 * `openSyncStore` is the local half of the client's Open: it validates the configuration against
 * the schema, creates or completes the `_sync_*` layout, registers the managed tables, installs the
 * capture triggers and binds a source id, all in one IMMEDIATE transaction (a failure leaves the
 * database as it was). It never talks to a server.
 */
import {
  type NormalizedSyncConfig,
  type SyncConfig,
  configError,
  normalizeSyncConfig,
} from "../config/sync-config.js";
import type { SqliteDriver, SqliteExecutor } from "../drivers/sqlite-driver.js";
import { ApplyState } from "./app-rows.js";
import { keyJsonSql, localPayloadSql } from "./capture-sql.js";
import { installCaptureTriggers } from "./capture-triggers.js";
import { ensureRuntimeSchema, runtimeSchemaExists } from "./runtime-schema.js";
import { type AttachmentState, RuntimeState, isValidSourceId, storeError } from "./runtime-state.js";
import { NOW_TIMESTAMP_SQL, quoteIdent, quoteText } from "./sql-text.js";
import { type SyncSchema, loadSyncSchema } from "./table-metadata.js";

/** Options for `openSyncStore`. */
export interface OpenSyncStoreOptions {
  /** Makes a fresh source id; defaults to a random UUID. Must return visible ASCII only. */
  readonly generateSourceId?: () => string;
}

/** The open local runtime: managed-table metadata plus transaction scopes over durable state. */
export class SyncStore {
  constructor(
    readonly driver: SqliteDriver,
    /** Metadata of the managed tables: keys, column kinds, foreign keys, dependency order. */
    readonly schema: SyncSchema,
  ) {}

  /** Runs `work` on a consistent read snapshot (a DEFERRED transaction). */
  read<T>(work: (state: RuntimeState) => Promise<T>): Promise<T> {
    return this.driver.transaction((tx) => work(new RuntimeState(tx, this.schema)), { behavior: "deferred" });
  }

  /** Runs `work` in one IMMEDIATE transaction; all of its writes commit or none do. */
  write<T>(work: (state: RuntimeState) => Promise<T>): Promise<T> {
    return this.driver.transaction((tx) => work(new RuntimeState(tx, this.schema)));
  }

  /**
   * Runs `work` as an authoritative apply: one IMMEDIATE transaction with foreign keys deferred to
   * COMMIT and apply mode on (capture triggers skip, guard triggers let writes through). Apply mode
   * is switched off before COMMIT, and a rollback never leaves it on because it lives in a table.
   */
  apply<T>(work: (state: ApplyState) => Promise<T>): Promise<T> {
    return this.driver.transaction(async (tx) => {
      await tx.exec("PRAGMA defer_foreign_keys = ON");
      await setApplyMode(tx, true);
      const result = await work(new ApplyState(tx, this.schema));
      await setApplyMode(tx, false);
      return result;
    });
  }
}

/** Opens the local runtime on `driver` for `config` (see the module comment). */
export async function openSyncStore(
  driver: SqliteDriver,
  config: SyncConfig,
  options?: OpenSyncStoreOptions,
): Promise<SyncStore> {
  const normalized = normalizeSyncConfig(config);
  const generateSourceId = options?.generateSourceId ?? (() => crypto.randomUUID());
  // Outside the transaction: SQLite ignores this pragma inside one.
  await driver.exec("PRAGMA foreign_keys = ON");
  const schema = await driver.transaction(async (tx) => {
    const schema = await loadSyncSchema(tx, normalized);
    if (await runtimeSchemaExists(tx)) await checkSingleSchema(tx, normalized);
    await ensureRuntimeSchema(tx);
    for (const table of schema.tables) {
      await tx.run("INSERT OR IGNORE INTO _sync_managed_tables (schema_name, table_name) VALUES (?, ?)", [
        schema.schema,
        table.name,
      ]);
    }
    await installCaptureTriggers(tx, schema.schema, schema.tables);
    await bindSource(new RuntimeState(tx, schema), generateSourceId);
    return schema;
  });
  return new SyncStore(driver, schema);
}

async function setApplyMode(db: SqliteExecutor, on: boolean): Promise<void> {
  await db.run("UPDATE _sync_apply_state SET apply_mode = ? WHERE singleton_key = 1", [on ? 1n : 0n]);
}

async function checkSingleSchema(db: SqliteExecutor, config: NormalizedSyncConfig): Promise<void> {
  const others = await db.query<{ schema_name: string }>(
    "SELECT DISTINCT schema_name FROM _sync_managed_tables WHERE schema_name <> ? ORDER BY schema_name",
    [config.schema],
  );
  if (others.length > 0) {
    throw configError(
      `this database already syncs schema ${others.map((row) => row.schema_name).join(", ")}, not ${config.schema}; ` +
        "exactly one configured schema is supported per local database, so use the same schema or a new database",
    );
  }
}

/**
 * Binds the runtime's source id and normalizes the attachment after a restart: keeps the current
 * source (or makes a fresh one on first open, capturing rows that already exist as dirty INSERTs),
 * keeps the binding only when attached to a user with no remote replace pending, and clears
 * checkpoint, rebuild flag and initialization lease whenever the binding is dropped.
 */
async function bindSource(state: RuntimeState, generateSourceId: () => string): Promise<void> {
  const attachment = await state.readAttachment();
  const operation = await state.readOperation();
  let sourceId = attachment.currentSourceId;
  if (sourceId === "") {
    sourceId = await freshSourceId(state, generateSourceId);
  } else if (!isValidSourceId(sourceId)) {
    throw storeError(`current_source_id ${JSON.stringify(sourceId)} is not a valid source id`);
  }
  await state.ensureSource(sourceId);
  if (attachment.currentSourceId === "") await captureExistingRows(state);

  const attached =
    operation.kind !== "remote_replace" &&
    attachment.bindingState === "attached" &&
    attachment.attachedUserId !== "";
  const normalized: AttachmentState = {
    currentSourceId: sourceId,
    bindingState: attached ? "attached" : "anonymous",
    attachedUserId: attached ? attachment.attachedUserId : "",
    schemaName: attached ? state.schema.schema : "",
    lastBundleSeqSeen: attached ? attachment.lastBundleSeqSeen : 0n,
    rebuildRequired: attached && attachment.rebuildRequired,
    pendingInitializationId: attached && operation.kind === "none" ? attachment.pendingInitializationId : "",
  };
  await state.writeAttachment(normalized);
}

async function freshSourceId(state: RuntimeState, generateSourceId: () => string): Promise<string> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const candidate = generateSourceId();
    if (!isValidSourceId(candidate)) {
      throw storeError(`generated source id ${JSON.stringify(candidate)} is not visible ASCII`);
    }
    if ((await state.readSource(candidate)) === undefined) return candidate;
  }
  throw storeError("no unused source id after 100 attempts; check the source id generator");
}

/**
 * First open: rows the application wrote before sync was installed are queued as dirty INSERTs
 * (base version 0), parents before children, each table in key order. Refuses when sync state
 * already exists, since those rows would then not be new.
 */
async function captureExistingRows(state: RuntimeState): Promise<void> {
  const existing = [
    ["_sync_row_state", await count(state.db, "_sync_row_state")],
    ["_sync_dirty_rows", await count(state.db, "_sync_dirty_rows")],
    ["_sync_outbox_rows", await count(state.db, "_sync_outbox_rows")],
  ].filter(([, rows]) => rows !== 0n);
  if (existing.length > 0) {
    throw storeError(
      `it has no source id yet but already holds sync rows (${existing.map(([name, rows]) => `${name}=${rows}`).join(", ")})`,
    );
  }
  let ordinal = 0n;
  for (const table of state.schema.dependencyOrder) {
    const key = `existing.${quoteIdent(table.keyColumn.name)}`;
    const result = await state.db.run(
      "INSERT INTO _sync_dirty_rows (schema_name, table_name, key_json, op, base_row_version, payload, dirty_ordinal, updated_at) " +
        `SELECT ${quoteText(state.schema.schema)}, ${quoteText(table.name)}, ${keyJsonSql(table, "existing")}, 'INSERT', 0, ` +
        `${localPayloadSql(table, "existing")}, ? + row_number() OVER (ORDER BY ${key}), ${NOW_TIMESTAMP_SQL} ` +
        `FROM ${quoteIdent(table.sqlName)} AS existing ORDER BY ${key}`,
      [ordinal],
    );
    ordinal += BigInt(result.changes);
  }
}

async function count(db: SqliteExecutor, table: string): Promise<bigint> {
  const rows = await db.query<{ n: bigint }>(`SELECT count(*) AS n FROM ${table}`);
  return rows[0]?.n ?? 0n;
}
