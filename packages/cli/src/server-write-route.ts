/**
 * `POST /test/server-write` (served only with `oversync serve --test-server-writes`): upserts one row
 * of an example table through the runtime's server-originated write path
 * (`scopeManager.execWrite`), so it is committed as a bundle exactly as a host's own business code
 * would commit it, and watching devices are woken. `oversync simulate`'s watch-server-originated
 * scenario needs it: a device cannot produce a server-originated bundle any other way.
 *
 * The caller signs in like a device (bearer token and `Oversync-Source-ID`) and writes only into its
 * own scope. Body `{"table": "users", "row": {"id": "…", "name": "…", …}, "writer_id"?: "server:…"}`;
 * values are JSON strings, numbers, booleans or null, which PostgreSQL reads as the column's type.
 * Answer `{"bundle": {bundle_seq, source_id, source_bundle_id, row_count, bundle_hash},
 * "auto_initialized": bool}`.
 */
import { OversyncError } from "@oversync/protocol";
import { type ActorRoute, type ScopeManager, ServerWriteError, jsonResponse } from "@oversync/server";
import { EXAMPLE_SCHEMA, EXAMPLE_TABLES } from "./example-schema.js";

/** The source id server-originated bundles are committed under unless the request names one. */
const DEFAULT_SERVER_WRITER_ID = "server:test-server-write";

type RowValue = string | number | boolean | null;

interface ServerWriteRequest {
  readonly table: string;
  readonly row: Readonly<Record<string, RowValue>>;
  readonly writerId: string;
}

/** The route over the runtime's scope manager. */
export function serverWriteRoute(scopes: ScopeManager): ActorRoute {
  return {
    method: "POST",
    path: "/test/server-write",
    auth: "actor",
    failureCode: "internal_error",
    async handle({ actor, bodyText }) {
      const request = decodeServerWrite(await bodyText());
      const columns = Object.keys(request.row);
      const assignments = columns.filter((column) => column !== "id");
      const sql =
        `INSERT INTO ${EXAMPLE_SCHEMA}.${request.table} (_sync_scope_id, ${columns.join(", ")}) ` +
        `VALUES ($1, ${columns.map((_, index) => `$${index + 2}`).join(", ")}) ON CONFLICT (_sync_scope_id, id) ` +
        (assignments.length === 0
          ? "DO NOTHING"
          : `DO UPDATE SET ${assignments.map((column) => `${column} = EXCLUDED.${column}`).join(", ")}`);
      try {
        const result = await scopes.execWrite(actor.userId, { writerId: request.writerId }, (tx) =>
          tx.query(sql, [actor.userId, ...columns.map((column) => request.row[column] ?? null)]),
        );
        return jsonResponse({ bundle: result.bundle, auto_initialized: result.autoInitialized });
      } catch (error) {
        throw asRequestError(error);
      }
    },
  };
}

function decodeServerWrite(body: string): ServerWriteRequest {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw refused("the body is not JSON");
  }
  const { table, row, writer_id: writerId } = (json ?? {}) as Record<string, unknown>;
  const example = EXAMPLE_TABLES.find((candidate) => candidate.name === table);
  if (example === undefined) {
    throw refused(`table must be one of ${EXAMPLE_TABLES.map((candidate) => candidate.name).join(", ")}`);
  }
  if (typeof row !== "object" || row === null || Array.isArray(row)) throw refused("row must be an object");
  const values = row as Record<string, unknown>;
  if (typeof values.id !== "string") throw refused("row.id must be the row's uuid as a string");
  for (const [column, value] of Object.entries(values)) {
    if (!example.columns.some((candidate) => candidate.name === column)) {
      throw refused(`${example.name} has no column ${JSON.stringify(column)}`);
    }
    if (value !== null && !["string", "number", "boolean"].includes(typeof value)) {
      throw refused(`row.${column} must be a string, number, boolean or null`);
    }
  }
  if (writerId !== undefined && typeof writerId !== "string") throw refused("writer_id must be a string");
  return {
    table: example.name,
    row: values as Record<string, RowValue>,
    writerId: writerId ?? DEFAULT_SERVER_WRITER_ID,
  };
}

/** A refused write or a value PostgreSQL cannot take is the caller's mistake: 400, not 500. */
function asRequestError(error: unknown): unknown {
  if (error instanceof ServerWriteError) return refused(`${error.message} [${error.code}]`);
  const sqlState = (error as { code?: unknown })?.code;
  // SQLSTATE classes 22 (data exception) and 23 (integrity constraint violation).
  if (typeof sqlState === "string" && /^2[23][0-9A-Z]{3}$/.test(sqlState)) {
    return refused(`PostgreSQL refused the row: ${(error as Error).message}`);
  }
  return error;
}

function refused(message: string): OversyncError {
  return new OversyncError("invalid_request", `server write refused: ${message}`);
}
