/**
 * A bootstrapped sync service on a fresh database with the business schema, plus helpers that
 * drive pushes and read results the way a client would.
 */
import { randomUUID } from "node:crypto";
import {
  OversyncError,
  type PushChunkRequest,
  type PushCommitResponse,
  type PushRow,
  canonicalRequestHash,
} from "@oversync/protocol";
import { type Actor, type SyncRuntime, type SyncServiceOptions, createSyncService } from "@oversync/server";
import { type TestDatabase, createTestDatabase } from "../support/postgres.js";
import { BUSINESS_TABLES, createBusinessSchema } from "./business-schema.js";

export interface ServiceHarness {
  readonly db: TestDatabase;
  readonly service: SyncRuntime;
  drop(): Promise<void>;
}

/** The service options a test may set; the rest are the harness's. */
export type HarnessOptions = Pick<SyncServiceOptions, "limits" | "pullPageRowBudget" | "snapshots">;

/** Creates a database, the business schema and a bootstrapped service over it. */
export async function startService(options: HarnessOptions = {}): Promise<ServiceHarness> {
  const db = await createTestDatabase("oversync_svc");
  await createBusinessSchema(db.pool);
  const service = createSyncService({
    pool: db.pool,
    appName: "oversync-test",
    registeredTables: BUSINESS_TABLES,
    maxSupportedSchemaVersion: 1,
    ...options,
    logger: { warn: () => undefined, error: () => undefined },
  });
  await service.bootstrap();
  return {
    db,
    service,
    async drop() {
      await service.close();
      await db.drop();
    },
  };
}

/** An actor for `userId` on `sourceId`, in the user's own scope unless `scopeId` names another. */
export function actor(userId: string, sourceId = `${userId}-device`, scopeId = userId): Actor {
  return { scopeId, userId, sourceId };
}

/** A users-table row. */
export function userRow(
  id: string,
  name: string,
  options: { op?: PushRow["op"]; base?: number; email?: string } = {},
): PushRow {
  const op = options.op ?? "INSERT";
  return {
    schema: "business",
    table: "users",
    key: { id },
    op,
    base_row_version: options.base ?? 0,
    payload:
      op === "DELETE"
        ? undefined
        : {
            id,
            name,
            email: options.email ?? `${name.toLowerCase()}@example.com`,
            created_at: "2026-03-24T18:42:11Z",
            updated_at: "2026-03-24T18:42:11.5Z",
          },
  };
}

/** A docs-table row (text key `doc_id`). */
export function docRow(
  docId: string,
  body: string | null,
  options: { op?: PushRow["op"]; base?: number } = {},
): PushRow {
  const op = options.op ?? "INSERT";
  return {
    schema: "business",
    table: "docs",
    key: { doc_id: docId },
    op,
    base_row_version: options.base ?? 0,
    payload: op === "DELETE" ? undefined : { doc_id: docId, body },
  };
}

/** A fresh canonical UUID. */
export function uuid(): string {
  return randomUUID();
}

/** Connects with no pending rows, so the user's scope becomes initialized. */
export async function initializeScope(service: SyncRuntime, who: Actor): Promise<void> {
  await service.connect(who, { has_local_pending_rows: false });
}

/** Creates a session, uploads `rows` in chunks of `chunkSize`, and commits. */
export async function push(
  service: SyncRuntime,
  who: Actor,
  sourceBundleId: number,
  rows: readonly PushRow[],
  options: { chunkSize?: number; initializationId?: string } = {},
): Promise<PushCommitResponse> {
  const created = await service.createPushSession(who, {
    source_bundle_id: sourceBundleId,
    planned_row_count: rows.length,
    canonical_request_hash: canonicalRequestHash(rows),
    initialization_id: options.initializationId,
  });
  if (created.status !== "staging") throw new Error(`expected staging, got ${created.status}`);
  const chunkSize = options.chunkSize ?? 1000;
  for (let start = 0; start < rows.length; start += chunkSize) {
    const chunk: PushChunkRequest = { start_row_ordinal: start, rows: rows.slice(start, start + chunkSize) };
    await service.uploadPushChunk(who, created.push_id, chunk);
  }
  return service.commitPushSession(who, created.push_id);
}

/** The OversyncError a promise rejects with (fails the test if it resolves or throws anything else). */
export async function rejection(promise: Promise<unknown>): Promise<OversyncError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof OversyncError) return error;
    throw error;
  }
  throw new Error("expected an OversyncError, but the call succeeded");
}
