/**
 * One open client per database in this process: two engines over one database would race on the
 * outbox and the source sequence. A file database is identified by the path SQLite reports for
 * `main`; an in-memory or temporary one by its driver object.
 */
import type { SqliteDriver } from "../drivers/sqlite-driver.js";
import { OversyncClientError } from "../errors.js";

const owners = new Map<unknown, object>();

/** The identity of the driver's main database. */
export async function databaseIdentity(driver: SqliteDriver): Promise<unknown> {
  const rows = await driver.query<{ name: string; file: string | null }>("PRAGMA database_list");
  const file = rows.find((row) => row.name === "main")?.file ?? "";
  return file === "" ? driver : `file:${file}`;
}

/** Records `owner` as the database's client; fails when another client holds it. */
export function claimDatabase(identity: unknown, owner: object): void {
  const current = owners.get(identity);
  if (current !== undefined && current !== owner) {
    const what = typeof identity === "string" ? identity.slice("file:".length) : "this in-memory database";
    throw new OversyncClientError(
      "database_already_owned",
      `another open sync client already owns ${what}; close() it first (one client per database)`,
    );
  }
  owners.set(identity, owner);
}

/** Releases the claim of `owner`, if it holds one. */
export function releaseDatabase(identity: unknown, owner: object): void {
  if (owners.get(identity) === owner) owners.delete(identity);
}
