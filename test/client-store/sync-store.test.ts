/**
 * Opening the local runtime (source binding, adoption of existing rows, restart normalization,
 * atomic failure) and the store API the engine uses (durable state accessors, authoritative apply).
 */
import { type SqliteDriver, type SyncConfig, isClientError } from "@oversync/client";
import { EMPTY_OUTBOX_BUNDLE, NO_OPERATION } from "../../packages/client/src/store/runtime-state.js";
import { decodeWirePayload, localKeyOfWireKey } from "../../packages/client/src/store/payload-codec.js";
import { openSyncStore } from "../../packages/client/src/store/sync-store.js";
import { describe, expect, it } from "vitest";
import { dumpRuntimeState, withTempDatabase } from "./store-harness.js";

const USERS = "CREATE TABLE users (id TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL)";
const USERS_CONFIG: SyncConfig = {
  schema: "main",
  syncTables: [{ tableName: "users", syncKeyColumnName: "id" }],
};

const GRAPH = `
  CREATE TABLE files (id BLOB PRIMARY KEY NOT NULL, name TEXT NOT NULL, data BLOB, size INTEGER, score REAL);
  CREATE TABLE reviews (id TEXT PRIMARY KEY NOT NULL, file_id BLOB NOT NULL REFERENCES files(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED, body TEXT);
`;
const GRAPH_CONFIG: SyncConfig = {
  schema: "business",
  syncTables: [
    { tableName: "reviews", syncKeyColumnName: "id" },
    { tableName: "files", syncKeyColumnName: "id" },
  ],
};
const FILE_UUID = "00112233-4455-6677-8899-aabbccddeeff";

async function count(driver: SqliteDriver, sql: string): Promise<bigint> {
  const [row] = await driver.query<{ n: bigint }>(sql);
  return row!.n;
}

describe("openSyncStore", () => {
  it("binds a fresh source on first open and keeps it across reopens", async () => {
    await withTempDatabase(async (driver) => {
      await driver.exec(USERS);
      const ids = ["first-source", "second-source"];
      await openSyncStore(driver, USERS_CONFIG, { generateSourceId: () => ids.shift()! });
      await openSyncStore(driver, USERS_CONFIG, { generateSourceId: () => ids.shift()! });
      const state = await dumpRuntimeState(driver);
      expect(state.attachment_state?.[0]?.current_source_id).toBe("first-source");
      expect(state.source_state?.map((row) => row.source_id)).toEqual(["first-source"]);
    });
  });

  it("uses random UUIDs by default and skips ids already used", async () => {
    await withTempDatabase(async (driver) => {
      await driver.exec(USERS);
      const store = await openSyncStore(driver, USERS_CONFIG);
      const attachment = await store.read((state) => state.readAttachment());
      expect(attachment.currentSourceId).toMatch(
        /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
      );

      await driver.exec(
        "UPDATE _sync_attachment_state SET current_source_id = ''; INSERT INTO _sync_source_state (source_id) VALUES ('taken');",
      );
      await driver.exec("DELETE FROM _sync_dirty_rows");
      const ids = ["taken", "free"];
      await openSyncStore(driver, USERS_CONFIG, { generateSourceId: () => ids.shift()! });
      expect((await store.read((state) => state.readAttachment())).currentSourceId).toBe("free");
    });
  });

  it("queues rows that existed before sync as dirty INSERTs, parents first, once", async () => {
    await withTempDatabase(async (driver) => {
      await driver.exec(GRAPH);
      await driver.run("INSERT INTO files (id, name) VALUES (?, 'f')", [new Uint8Array(16).fill(1)]);
      await driver.run("INSERT INTO reviews VALUES ('r2', ?, 'b'), ('r1', ?, 'a')", [
        new Uint8Array(16).fill(1),
        new Uint8Array(16).fill(1),
      ]);
      await openSyncStore(driver, GRAPH_CONFIG);
      const rows = await driver.query(
        "SELECT table_name, key_json, op, base_row_version, dirty_ordinal FROM _sync_dirty_rows ORDER BY dirty_ordinal",
      );
      expect(rows).toEqual([
        {
          table_name: "files",
          key_json: '{"id":"01010101010101010101010101010101"}',
          op: "INSERT",
          base_row_version: 0n,
          dirty_ordinal: 1n,
        },
        {
          table_name: "reviews",
          key_json: '{"id":"r1"}',
          op: "INSERT",
          base_row_version: 0n,
          dirty_ordinal: 2n,
        },
        {
          table_name: "reviews",
          key_json: '{"id":"r2"}',
          op: "INSERT",
          base_row_version: 0n,
          dirty_ordinal: 3n,
        },
      ]);
      await driver.run("DELETE FROM _sync_dirty_rows");
      await openSyncStore(driver, GRAPH_CONFIG);
      expect(await count(driver, "SELECT count(*) AS n FROM _sync_dirty_rows")).toBe(0n);
    });
  });

  it("normalizes the attachment on reopen: a pending remote replace drops the binding", async () => {
    await withTempDatabase(async (driver) => {
      await driver.exec(USERS);
      const store = await openSyncStore(driver, USERS_CONFIG);
      await store.write(async (state) => {
        const attachment = await state.readAttachment();
        await state.writeAttachment({
          ...attachment,
          bindingState: "attached",
          attachedUserId: "user-1",
          schemaName: "main",
          lastBundleSeqSeen: 9_007_199_254_740_993n,
          rebuildRequired: true,
          pendingInitializationId: "init",
        });
      });
      await openSyncStore(driver, USERS_CONFIG);
      expect(await store.read((state) => state.readAttachment())).toMatchObject({
        bindingState: "attached",
        attachedUserId: "user-1",
        schemaName: "main",
        lastBundleSeqSeen: 9_007_199_254_740_993n,
        rebuildRequired: true,
        pendingInitializationId: "init",
      });
      await store.write((state) =>
        state.writeOperation({ ...NO_OPERATION, kind: "remote_replace", targetUserId: "user-1" }),
      );
      await openSyncStore(driver, USERS_CONFIG);
      expect(await store.read((state) => state.readAttachment())).toMatchObject({
        bindingState: "anonymous",
        attachedUserId: "",
        schemaName: "",
        lastBundleSeqSeen: 0n,
        rebuildRequired: false,
        pendingInitializationId: "",
      });
    });
  });

  it("clears a stuck apply mode on open", async () => {
    await withTempDatabase(async (driver) => {
      await driver.exec(USERS);
      await openSyncStore(driver, USERS_CONFIG);
      await driver.run("UPDATE _sync_apply_state SET apply_mode = 1");
      const store = await openSyncStore(driver, USERS_CONFIG);
      expect(await store.read((state) => state.readApplyMode())).toBe(false);
    });
  });

  it("refuses a second schema name on a database that already syncs one, changing nothing", async () => {
    await withTempDatabase(async (driver) => {
      await driver.exec(USERS);
      await openSyncStore(driver, USERS_CONFIG);
      const before = await dumpRuntimeState(driver);
      const error = await openSyncStore(driver, { ...USERS_CONFIG, schema: "other" }).catch(
        (caught: unknown) => caught,
      );
      expect(isClientError(error, "config_invalid")).toBe(true);
      expect((error as Error).message).toContain("exactly one configured schema");
      expect(await dumpRuntimeState(driver)).toEqual(before);
    });
  });

  it("leaves no trace when validation fails on a fresh database", async () => {
    await withTempDatabase(async (driver) => {
      await driver.exec(USERS);
      await expect(
        openSyncStore(driver, {
          schema: "main",
          syncTables: [{ tableName: "missing", syncKeyColumnName: "id" }],
        }),
      ).rejects.toThrow("table missing does not exist");
      expect(
        await count(
          driver,
          "SELECT count(*) AS n FROM sqlite_master WHERE name LIKE '\\_sync\\_%' ESCAPE '\\'",
        ),
      ).toBe(0n);
    });
  });

  it("enforces the layout's CHECK constraints", async () => {
    await withTempDatabase(async (driver) => {
      await driver.exec(USERS);
      await openSyncStore(driver, USERS_CONFIG);
      for (const sql of [
        "INSERT INTO _sync_apply_state (singleton_key) VALUES (2)",
        "UPDATE _sync_attachment_state SET binding_state = 'bound'",
        "UPDATE _sync_operation_state SET kind = 'other'",
        "UPDATE _sync_outbox_bundle SET state = 'sent'",
        "UPDATE _sync_outbox_bundle SET canonical_json_contract = 'go_json'",
        "INSERT INTO _sync_dirty_rows (schema_name, table_name, key_json, op) VALUES ('main', 'users', '{}', 'MERGE')",
        "INSERT INTO _sync_outbox_rows (source_bundle_id, row_ordinal, schema_name, table_name, key_json, wire_key_json, op) VALUES (1, 0, 'main', 'users', '{}', '{}', 'UPSERT')",
      ]) {
        await expect(driver.run(sql), sql).rejects.toMatchObject({ sqliteCode: "SQLITE_CONSTRAINT" });
      }
    });
  });

  it("turns foreign keys on for the connection", async () => {
    await withTempDatabase(async (driver) => {
      await driver.exec(`PRAGMA foreign_keys = OFF; ${USERS}`);
      await openSyncStore(driver, USERS_CONFIG);
      expect(await driver.query("PRAGMA foreign_keys")).toEqual([{ foreign_keys: 1n }]);
    });
  });
});

describe("durable state API", () => {
  it("round-trips every singleton with exact 64-bit integers", async () => {
    await withTempDatabase(async (driver) => {
      await driver.exec(USERS);
      const store = await openSyncStore(driver, USERS_CONFIG);
      const max = 2n ** 63n - 1n;
      const operation = {
        kind: "source_recovery" as const,
        targetUserId: "u",
        stagedSnapshotId: "snap",
        snapshotBundleSeq: max,
        snapshotRowCount: 2n ** 53n + 1n,
        snapshotByteCount: 4n,
        snapshotStageComplete: true,
        reason: "source_retired",
        replacementSourceId: "replacement",
      };
      const outbox = {
        state: "committed_remote" as const,
        sourceId: "s",
        sourceBundleId: 7n,
        initializationId: "i",
        canonicalRequestHash: "a".repeat(64),
        rowCount: 3n,
        remoteBundleHash: "b".repeat(64),
        remoteBundleSeq: max,
      };
      await store.write(async (state) => {
        await state.writeOperation(operation);
        await state.writeOutboxBundle(outbox);
      });
      expect(await store.read((state) => state.readOperation())).toEqual(operation);
      expect(await store.read((state) => state.readOutboxBundle())).toEqual(outbox);
      await store.write(async (state) => {
        await state.writeOperation(NO_OPERATION);
        await state.writeOutboxBundle(EMPTY_OUTBOX_BUNDLE);
      });
      expect(await store.read((state) => state.readOperation())).toEqual(NO_OPERATION);
      expect(await store.read((state) => state.readOutboxBundle())).toEqual(EMPTY_OUTBOX_BUNDLE);
    });
  });

  it("lists dirty rows by ordinal and re-queues intent keeping the ordinal", async () => {
    await withTempDatabase(async (driver) => {
      await driver.exec(USERS);
      const store = await openSyncStore(driver, USERS_CONFIG);
      await driver.run("INSERT INTO users VALUES ('b', 'x'), ('a', 'y')");
      await store.write(async (state) => {
        await state.putDirtyRow({
          tableName: "users",
          keyJson: '{"id":"b"}',
          op: "UPDATE",
          baseRowVersion: 5n,
          payload: '{"id":"b","name":"x"}',
        });
        await state.putDirtyRow({
          tableName: "users",
          keyJson: '{"id":"c"}',
          op: "DELETE",
          baseRowVersion: 2n,
          payload: null,
        });
      });
      const rows = await store.read((state) => state.listDirtyRows());
      expect(rows.map((row) => [row.keyJson, row.op, row.baseRowVersion, row.dirtyOrdinal])).toEqual([
        ['{"id":"b"}', "UPDATE", 5n, 1n],
        ['{"id":"a"}', "INSERT", 0n, 2n],
        ['{"id":"c"}', "DELETE", 2n, 3n],
      ]);
      expect(await store.read((state) => state.listDirtyRows(1))).toHaveLength(1);
      expect(await store.read((state) => state.countDirtyRows())).toBe(3n);
      await store.write((state) => state.deleteDirtyRow("users", '{"id":"a"}'));
      expect(await store.read((state) => state.readDirtyRow("users", '{"id":"a"}'))).toBeUndefined();
    });
  });

  it("keeps row state, outbox rows, snapshot stage and sources exactly", async () => {
    await withTempDatabase(async (driver) => {
      await driver.exec(USERS);
      const store = await openSyncStore(driver, USERS_CONFIG, { generateSourceId: () => "src" });
      await store.write(async (state) => {
        await state.putRowState("users", '{"id":"a"}', { rowVersion: 2n ** 63n - 1n, deleted: false });
        await state.putRowState("users", '{"id":"b"}', { rowVersion: 3n, deleted: true });
        await state.insertOutboxRows([
          {
            sourceBundleId: 1n,
            rowOrdinal: 0n,
            tableName: "users",
            keyJson: '{"id":"a"}',
            wireKeyJson: '{"id":"a"}',
            op: "INSERT",
            baseRowVersion: 0n,
            localPayload: '{"id":"a","name":"x"}',
            wirePayload: '{"id":"a","name":"x"}',
          },
        ]);
        await state.stageSnapshotRows([
          {
            snapshotId: "s1",
            rowOrdinal: 1n,
            tableName: "users",
            keyJson: '{"id":"a"}',
            rowVersion: 4n,
            payload: "{}",
          },
          {
            snapshotId: "s1",
            rowOrdinal: 2n,
            tableName: "users",
            keyJson: '{"id":"b"}',
            rowVersion: 5n,
            payload: "{}",
          },
        ]);
        await state.raiseNextSourceBundleId("src", 4n);
        await state.raiseNextSourceBundleId("src", 2n);
        await state.ensureSource("next");
        await state.markSourceReplaced("src", "next");
      });
      await store.read(async (state) => {
        expect(await state.readRowState("users", '{"id":"a"}')).toMatchObject({
          rowVersion: 2n ** 63n - 1n,
          deleted: false,
        });
        expect(await state.readRowState("users", '{"id":"b"}')).toMatchObject({
          rowVersion: 3n,
          deleted: true,
        });
        expect(await state.countLiveRowStates()).toBe(1n);
        expect(await state.listOutboxRows()).toHaveLength(1);
        expect(await state.countOutboxRows()).toBe(1n);
        expect((await state.listSnapshotStage("s1", 1n, 10)).map((row) => row.keyJson)).toEqual([
          '{"id":"b"}',
        ]);
        expect(await state.countSnapshotStage("s1")).toBe(2n);
        expect(await state.readSource("src")).toMatchObject({
          nextSourceBundleId: 4n,
          replacedBySourceId: "next",
        });
        expect((await state.listSources()).map((source) => source.sourceId).sort()).toEqual(["next", "src"]);
        expect(await state.listRegisteredTables()).toEqual(["users"]);
      });
      const duplicate = store.write((state) =>
        state.stageSnapshotRows([
          {
            snapshotId: "s1",
            rowOrdinal: 3n,
            tableName: "users",
            keyJson: '{"id":"a"}',
            rowVersion: 6n,
            payload: "{}",
          },
        ]),
      );
      await expect(duplicate).rejects.toMatchObject({ sqliteCode: "SQLITE_CONSTRAINT" });
      await store.write(async (state) => {
        await state.clearSnapshotStage();
        await state.clearOutboxRows();
        await state.clearRowStates("users");
      });
      expect(
        await count(
          driver,
          "SELECT count(*) + (SELECT count(*) FROM _sync_outbox_rows) + (SELECT count(*) FROM _sync_row_state) AS n FROM _sync_snapshot_stage",
        ),
      ).toBe(0n);
    });
  });

  it("serializes a live row exactly as the capture trigger did", async () => {
    await withTempDatabase(async (driver) => {
      await driver.exec(GRAPH);
      const store = await openSyncStore(driver, GRAPH_CONFIG);
      await driver.run("INSERT INTO files VALUES (?, 'f', ?, ?, ?)", [
        new Uint8Array(16),
        new Uint8Array([1]),
        7n,
        0.25,
      ]);
      const [dirty] = await driver.query<{ key_json: string; payload: string }>(
        "SELECT key_json, payload FROM _sync_dirty_rows",
      );
      expect(await store.read((state) => state.readLocalPayload("files", dirty!.key_json))).toBe(
        dirty!.payload,
      );
      expect(
        await store.read((state) =>
          state.readLocalPayload("files", '{"id":"ffffffffffffffffffffffffffffffff"}'),
        ),
      ).toBeUndefined();
      expect(await store.read((state) => state.readAppRow("files", new Uint8Array(16)))).toEqual({
        id: new Uint8Array(16),
        name: "f",
        data: new Uint8Array([1]),
        size: 7n,
        score: 0.25,
      });
    });
  });
});

describe("authoritative apply", () => {
  it("upserts and deletes decoded rows without capturing them, recording row state", async () => {
    await withTempDatabase(async (driver) => {
      await driver.exec(GRAPH);
      const store = await openSyncStore(driver, GRAPH_CONFIG);
      const files = store.schema.table("files");
      const reviews = store.schema.table("reviews");
      const fileKey = localKeyOfWireKey(files, { id: FILE_UUID });
      await store.apply(async (state) => {
        // Child before parent: foreign keys are checked at COMMIT.
        await state.applyRemoteRow({
          tableName: "reviews",
          op: "INSERT",
          key: "r1",
          values: decodeWirePayload(reviews, { id: "r1", file_id: FILE_UUID, body: "ok" }),
          rowVersion: 3n,
        });
        await state.applyRemoteRow({
          tableName: "files",
          op: "INSERT",
          key: fileKey.value,
          values: decodeWirePayload(files, {
            id: FILE_UUID,
            name: "f",
            data: "3q2+7w==",
            size: "-9223372036854775808",
            score: "5e-324",
          }),
          rowVersion: 2n,
        });
      });
      expect(await store.read((state) => state.readAppRow("files", fileKey.value))).toEqual({
        id: fileKey.value,
        name: "f",
        data: new Uint8Array([0xde, 0xad, 0xbe, 0xef]),
        size: -(2n ** 63n),
        score: 5e-324,
      });
      expect(await count(driver, "SELECT count(*) AS n FROM _sync_dirty_rows")).toBe(0n);
      expect(await store.read((state) => state.readRowState("files", fileKey.keyJson))).toMatchObject({
        rowVersion: 2n,
        deleted: false,
      });
      expect(await store.read((state) => state.readApplyMode())).toBe(false);

      // Updating the parent in place keeps its ON DELETE CASCADE child.
      await store.apply((state) =>
        state.applyRemoteRow({
          tableName: "files",
          op: "UPDATE",
          key: fileKey.value,
          values: decodeWirePayload(files, { id: FILE_UUID, name: "g", data: null, size: null, score: null }),
          rowVersion: 4n,
        }),
      );
      expect(await count(driver, "SELECT count(*) AS n FROM reviews")).toBe(1n);

      await store.apply((state) =>
        state.applyRemoteRow({ tableName: "reviews", op: "DELETE", key: "r1", rowVersion: 5n }),
      );
      expect(await count(driver, "SELECT count(*) AS n FROM reviews")).toBe(0n);
      expect(await store.read((state) => state.readRowState("reviews", '{"id":"r1"}'))).toMatchObject({
        rowVersion: 5n,
        deleted: true,
      });
      expect(await count(driver, "SELECT count(*) AS n FROM _sync_dirty_rows")).toBe(0n);
    });
  });

  it("applies while guards are active and rolls everything back on failure", async () => {
    await withTempDatabase(async (driver) => {
      await driver.exec(USERS);
      const store = await openSyncStore(driver, USERS_CONFIG);
      const users = store.schema.table("users");
      await store.write((state) =>
        state.writeOperation({ ...NO_OPERATION, kind: "remote_replace", targetUserId: "u" }),
      );
      await store.apply((state) =>
        state.applyRemoteRow({
          tableName: "users",
          op: "INSERT",
          key: "a",
          values: decodeWirePayload(users, { id: "a", name: "x" }),
          rowVersion: 1n,
        }),
      );
      const failure = store.apply(async (state) => {
        await state.applyRemoteRow({
          tableName: "users",
          op: "INSERT",
          key: "b",
          values: { id: "b", name: "y" },
          rowVersion: 2n,
        });
        await state.applyRemoteRow({
          tableName: "users",
          op: "INSERT",
          key: "c",
          values: { id: "c", name: null },
          rowVersion: 3n,
        });
      });
      await expect(failure).rejects.toMatchObject({ sqliteCode: "SQLITE_CONSTRAINT" });
      expect(await driver.query("SELECT id FROM users")).toEqual([{ id: "a" }]);
      expect(await store.read((state) => state.readApplyMode())).toBe(false);
      expect(await count(driver, "SELECT count(*) AS n FROM _sync_row_state")).toBe(1n);
    });
  });

  it("rejects a payload whose key differs from the row key, and a dangling foreign key at commit", async () => {
    await withTempDatabase(async (driver) => {
      await driver.exec(GRAPH);
      const store = await openSyncStore(driver, GRAPH_CONFIG);
      const reviews = store.schema.table("reviews");
      const mismatch = store.apply((state) =>
        state.applyRemoteRow({
          tableName: "reviews",
          op: "INSERT",
          key: "r1",
          values: decodeWirePayload(reviews, { id: "r2", file_id: FILE_UUID, body: null }),
          rowVersion: 1n,
        }),
      );
      await expect(mismatch).rejects.toSatisfy((error) => isClientError(error, "payload_invalid"));
      const dangling = store.apply((state) =>
        state.applyRemoteRow({
          tableName: "reviews",
          op: "INSERT",
          key: "r1",
          values: decodeWirePayload(reviews, { id: "r1", file_id: FILE_UUID, body: null }),
          rowVersion: 1n,
        }),
      );
      await expect(dangling).rejects.toMatchObject({ message: "FOREIGN KEY constraint failed" });
      expect(await count(driver, "SELECT count(*) AS n FROM reviews")).toBe(0n);
    });
  });

  it("upserts many rows across multi-row statements exactly, and refuses a batch with a mismatched key", async () => {
    await withTempDatabase(async (driver) => {
      await driver.exec(GRAPH);
      const store = await openSyncStore(driver, GRAPH_CONFIG);
      const files = store.schema.table("files");
      // More rows than one statement binds (700 parameters over 5 columns), with edge values.
      const rows = Array.from({ length: 333 }, (_, i) => {
        const id = `00000000-0000-4000-8000-${i.toString(16).padStart(12, "0")}`;
        return {
          keyJson: localKeyOfWireKey(files, { id }).keyJson,
          values: decodeWirePayload(files, {
            id,
            name: `f${i}`,
            data: i % 2 === 0 ? "3q2+7w==" : null,
            size: i % 3 === 0 ? "9223372036854775807" : String(-i),
            score: i % 5 === 0 ? "5e-324" : null,
          }),
        };
      });
      await store.apply((state) => state.upsertRemoteRows("files", rows));
      for (const index of [0, 139, 140, 332]) {
        const row = rows[index]!;
        expect(await store.read((state) => state.readAppRow("files", row.values.id as Uint8Array))).toEqual(
          row.values,
        );
      }
      expect(await count(driver, "SELECT count(*) AS n FROM files")).toBe(333n);
      expect(await count(driver, "SELECT count(*) AS n FROM _sync_dirty_rows")).toBe(0n);

      const swapped = [rows[1]!, { ...rows[2]!, keyJson: rows[3]!.keyJson }];
      const mismatch = store.apply((state) => state.upsertRemoteRows("files", swapped));
      await expect(mismatch).rejects.toSatisfy((error) => isClientError(error, "payload_invalid"));
    });
  });

  it("records every staged snapshot row as live at its version in one statement", async () => {
    await withTempDatabase(async (driver) => {
      await driver.exec(USERS);
      const store = await openSyncStore(driver, USERS_CONFIG);
      await store.write((state) =>
        state.stageSnapshotRows(
          Array.from({ length: 150 }, (_, i) => ({
            snapshotId: "s1",
            rowOrdinal: BigInt(i + 1),
            tableName: "users",
            keyJson: `{"id":"u${i}"}`,
            rowVersion: BigInt(1000 + i),
            payload: `{"id":"u${i}","name":null}`,
          })),
        ),
      );
      await store.apply((state) => state.putSnapshotRowStates("s1"));
      expect(await count(driver, "SELECT count(*) AS n FROM _sync_row_state WHERE deleted = 0")).toBe(150n);
      expect(await store.read((state) => state.readRowState("users", '{"id":"u149"}'))).toMatchObject({
        rowVersion: 1149n,
        deleted: false,
      });
      expect(await store.read((state) => state.listSnapshotStage("s1", 99n, 1000))).toHaveLength(51);
    });
  });

  it("empties a registered table that left the configuration", async () => {
    await withTempDatabase(async (driver) => {
      await driver.exec(`${USERS}; CREATE TABLE legacy_docs (id TEXT PRIMARY KEY NOT NULL, body TEXT);`);
      await openSyncStore(driver, {
        schema: "main",
        syncTables: [
          { tableName: "users", syncKeyColumnName: "id" },
          { tableName: "legacy_docs", syncKeyColumnName: "id" },
        ],
      });
      await driver.run("INSERT INTO legacy_docs VALUES ('d', 'x')");
      const store = await openSyncStore(driver, USERS_CONFIG);
      const registered = await store.read((state) => state.listRegisteredTables());
      expect(registered).toEqual(["legacy_docs", "users"]);
      await store.apply(async (state) => {
        for (const table of registered) await state.clearAppTable(table);
      });
      expect(await count(driver, "SELECT count(*) AS n FROM legacy_docs")).toBe(0n);
    });
  });
});
