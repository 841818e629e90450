/**
 * Live conformance, catalog groups H (FK / cascade topology) and I (typed rows, BLOBs, encodings):
 * graphs with self-references, cycles and cascades, and every column type of the example schema,
 * through push, pull and snapshot, our client against a live server.
 */
import { randomUUID } from "node:crypto";
import type { SqliteValue } from "@oversync/client";
import { expect, it } from "vitest";
import { contractsAvailable, readContractIfPresent } from "../support/contracts.js";
import { type Device, useDevices } from "./live-device.js";
import { describeLive } from "./live-server.js";
import { type LiveUser, newUser, requireHooks, serverWrite } from "./server-calls.js";

/** 16-byte BLOB key of a dashed UUID. */
function uuidBytes(uuid: string): Uint8Array {
  return Buffer.from(uuid.replaceAll("-", ""), "hex");
}

interface NumericScenario {
  readonly name: string;
  readonly local: Readonly<Record<string, string>>;
  readonly committed: Readonly<Record<string, string>>;
}

const INTEGER_COLUMNS = new Set(["count_value", "small_count", "medium_count", "enabled_flag"]);
const REAL_COLUMNS = new Set(["rating", "float4_value"]);

/** A manifest value as SQLite holds it locally ("true"/"false" are the committed booleans). */
function localValue(column: string, text: string): SqliteValue {
  if (text === "true" || text === "false") return text === "true" ? 1n : 0n;
  if (INTEGER_COLUMNS.has(column)) return BigInt(text);
  if (REAL_COLUMNS.has(column)) return Number(text);
  return text;
}

describeLive("live conformance: topology and typed rows", (server) => {
  const devices = useDevices(server);

  async function attached(user: LiveUser, options: Parameters<typeof devices.open>[1] = {}): Promise<Device> {
    const device = await devices.open(user, options);
    expect(await device.client.attach(user.id)).toMatchObject({ status: "connected" });
    return device;
  }

  it("FK-01 a cascade on the server reaches devices as the bundle's deletes", async (context) => {
    requireHooks(server, context);
    const user = await newUser(server, "fk01");
    const a = await attached(user);
    const [root, child] = [randomUUID(), randomUUID()];
    await a.run("INSERT INTO categories (id, name, parent_id) VALUES (?, 'Root', NULL)", [root]);
    await a.run("INSERT INTO categories (id, name, parent_id) VALUES (?, 'Child', ?)", [child, root]);
    await a.client.pushPending();
    const b = await attached(user);
    expect(await b.client.rebuild()).toMatchObject({ outcome: "applied_snapshot" });
    expect(await b.count("categories")).toBe(2);
    await serverWrite(server, user, [
      {
        sql: "DELETE FROM business.categories WHERE _sync_scope_id = $1 AND id = $2",
        params: [user.id, root],
      },
    ]);
    await b.client.pullToStable();
    expect(await b.count("categories")).toBe(0);
    expect(await b.isClean()).toBe(true);
  });

  it("FK-02 FK-05 a graph with a cycle is created and deleted as whole bundles across three devices", async () => {
    const user = await newUser(server, "fk02");
    const d1 = await attached(user);
    const author = randomUUID();
    const [root, child, team, member] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
    await d1.driver.transaction(async (tx) => {
      await tx.run("INSERT INTO posts (id, title, content, author_id) VALUES (?, 'Post', 'c', ?)", [
        randomUUID(),
        author,
      ]);
      await tx.run("INSERT INTO users (id, name, email) VALUES (?, 'Author', 'a@x')", [author]);
      await tx.run("INSERT INTO categories (id, name, parent_id) VALUES (?, 'Child', ?)", [child, root]);
      await tx.run("INSERT INTO categories (id, name, parent_id) VALUES (?, 'Root', NULL)", [root]);
      await tx.run("INSERT INTO teams (id, name, captain_member_id) VALUES (?, 'Team', ?)", [team, member]);
      await tx.run("INSERT INTO team_members (id, name, team_id) VALUES (?, 'Captain', ?)", [member, team]);
    });
    expect((await d1.client.pendingSyncStatus()).pendingRowCount).toBeGreaterThanOrEqual(6);
    await d1.client.pushPending();
    expect((await d1.client.pendingSyncStatus()).pendingRowCount).toBe(0);
    const counts = async (device: Device) =>
      Promise.all(
        ["users", "posts", "categories", "teams", "team_members"].map((table) => device.count(table)),
      );
    const d2 = await attached(user);
    const d3 = await attached(user);
    for (const device of [d2, d3]) expect(await counts(device)).toEqual([1, 1, 2, 1, 1]);

    // Deleting the root category cascades locally, and each cascaded row is captured as a DELETE.
    await d2.run("DELETE FROM categories WHERE id = ?", [root]);
    expect((await d2.dirtyRows()).map((row) => [row.table_name, row.op])).toEqual([
      ["categories", "DELETE"],
      ["categories", "DELETE"],
    ]);

    await d1.driver.transaction(async (tx) => {
      await tx.run("DELETE FROM users WHERE id = ?", [author]);
      await tx.run("DELETE FROM posts");
      await tx.run("DELETE FROM categories WHERE id = ?", [root]);
      await tx.run("UPDATE teams SET captain_member_id = NULL");
      await tx.run("DELETE FROM teams");
    });
    await d1.client.pushPending();
    // From checkpoint 1 to 2: the whole graph's deletion arrives as exactly one bundle.
    expect(await d3.client.lastBundleSeqSeen()).toBe(1);
    expect(await d3.client.pullToStable()).toMatchObject({ syncStatus: { lastBundleSeqSeen: 2 } });
    expect(await counts(d3)).toEqual([0, 0, 0, 0, 0]);
    const check = await attached(user);
    expect(await counts(check)).toEqual([0, 0, 0, 0, 0]);
  });

  it("FK-04 FK-07 BLOB-keyed files and reviews: an upsert keeps children, a delete cascades on every side", async () => {
    const user = await newUser(server, "fk04");
    const phone = await attached(user);
    const files = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
    for (const [index, id] of files.entries()) {
      await phone.run("INSERT INTO files (id, name, data) VALUES (?, ?, ?)", [
        uuidBytes(id),
        `file ${index}`,
        randomBytes16(),
      ]);
    }
    for (const [index, fileIndex] of [0, 0, 1, 1, 2, 3].entries()) {
      await phone.run("INSERT INTO file_reviews (id, review, file_id) VALUES (?, ?, ?)", [
        uuidBytes(randomUUID()),
        `review ${index}`,
        uuidBytes(files[fileIndex]!),
      ]);
    }
    await phone.client.pushPending();
    const laptop = await attached(user);
    await phone.run("UPDATE files SET name = 'renamed' WHERE id = ?", [uuidBytes(files[1]!)]);
    await phone.client.pushPending();
    await laptop.client.pullToStable();
    expect(await laptop.query("SELECT name FROM files WHERE id = ?", [uuidBytes(files[1]!)])).toEqual([
      { name: "renamed" },
    ]);
    expect(await laptop.count("file_reviews", "file_id = ?", [uuidBytes(files[1]!)])).toBe(2);

    await phone.run("DELETE FROM files WHERE id = ?", [uuidBytes(files[0]!)]);
    await phone.client.pushPending();
    await laptop.client.pullToStable();
    const check = await attached(user);
    for (const device of [phone, laptop, check]) {
      expect(await device.count("files")).toBe(3);
      expect(await device.count("file_reviews")).toBe(4);
      expect(await device.count("file_reviews", "file_id NOT IN (SELECT id FROM files)")).toBe(0);
    }
  });

  it("TY-01 typed rows stay exact through push, pull, a server-originated row and a hydrate", async (context) => {
    requireHooks(server, context);
    const user = await newUser(server, "ty01");
    const seed = await attached(user);
    const insert =
      "INSERT INTO typed_rows (id, name, note, count_value, enabled_flag, rating, data, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)";
    await seed.run(insert, [
      randomUUID(),
      "seed",
      null,
      42n,
      1n,
      1.25,
      Buffer.from("00112233445566778899aabbccddeeff", "hex"),
      "2026-03-24T18:42:11Z",
    ]);
    await seed.client.pushPending();
    const active = await attached(user);
    await active.run(insert, [
      randomUUID(),
      "active",
      "second-device",
      null,
      0n,
      6.57111473696007,
      null,
      null,
    ]);
    await active.client.pushPending();
    await serverWrite(server, user, [
      {
        sql: `INSERT INTO business.typed_rows (id, name, note, count_value, enabled_flag, rating, created_at)
              VALUES (gen_random_uuid(), 'peer', 'peer-from-server', NULL, true, 2.5, '2026-03-24T10:42:11-08:00')`,
      },
    ]);
    await active.client.pullToStable();
    const hydrated = await attached(user);
    for (const device of [active, hydrated]) {
      const rows = await device.query<Record<string, SqliteValue>>(
        `SELECT name, note, count_value, enabled_flag, quote(rating) AS rating, hex(data) AS data,
                length(data) AS data_length, created_at FROM typed_rows ORDER BY name`,
      );
      expect(rows).toMatchObject([
        {
          name: "active",
          note: "second-device",
          count_value: null,
          enabled_flag: 0n,
          data: "",
          data_length: null,
          created_at: null,
        },
        {
          name: "peer",
          note: "peer-from-server",
          count_value: null,
          enabled_flag: 1n,
          data: "",
          data_length: null,
        },
        {
          name: "seed",
          note: null,
          count_value: 42n,
          enabled_flag: 1n,
          data: "00112233445566778899AABBCCDDEEFF",
          data_length: 16n,
        },
      ]);
      const [same] = await device.query<Record<string, bigint>>(
        `SELECT (SELECT quote(rating) FROM typed_rows WHERE name = 'active') = quote(6.57111473696007) AS active,
                (SELECT quote(rating) FROM typed_rows WHERE name = 'peer') = quote(2.5) AS peer,
                (SELECT quote(rating) FROM typed_rows WHERE name = 'seed') = quote(1.25) AS seed`,
      );
      expect(same).toEqual({ active: 1n, peer: 1n, seed: 1n });
      expect(Date.parse(String(rows[1]!.created_at))).toBe(Date.parse("2026-03-24T10:42:11-08:00"));
      expect(Date.parse(String(rows[2]!.created_at))).toBe(Date.parse("2026-03-24T18:42:11Z"));
      expect(await device.dirtyRows()).toEqual([]);
    }
  });

  it("TY-02 TY-07 a typed row of NULLs and a rich typed row are stored and applied back exactly", async () => {
    const user = await newUser(server, "ty02");
    const device = await attached(user);
    await device.run("INSERT INTO typed_rows (id, name, enabled_flag) VALUES (?, 'typed-null', 0)", [
      randomUUID(),
    ]);
    await device.run(
      "INSERT INTO typed_rows (id, name, note, count_value, enabled_flag, rating, data, created_at) VALUES (?, 'typed-rich', 'rich', 42, 1, 1.25, x'cafebabe', '2026-03-24T18:42:11Z')",
      [randomUUID()],
    );
    await device.client.pushPending();
    expect(await device.isClean()).toBe(true);
    const check = await attached(user);
    for (const d of [device, check]) {
      expect(
        await d.query(
          "SELECT name, note, count_value, small_count, medium_count, exact_amount, enabled_flag, rating, float4_value, hex(data) AS data FROM typed_rows ORDER BY name",
        ),
      ).toEqual([
        {
          name: "typed-null",
          note: null,
          count_value: null,
          small_count: null,
          medium_count: null,
          exact_amount: null,
          enabled_flag: 0n,
          rating: null,
          float4_value: null,
          data: "",
        },
        {
          name: "typed-rich",
          note: "rich",
          count_value: 42n,
          small_count: null,
          medium_count: null,
          exact_amount: null,
          enabled_flag: 1n,
          rating: 1.25,
          float4_value: null,
          data: "CAFEBABE",
        },
      ]);
    }
  });

  it.skipIf(!contractsAvailable)(
    "TY-03 every numeric scenario of business-rich-v0 round-trips with the committed spellings",
    async () => {
      const { numericScenarios } = readContractIfPresent<{ numericScenarios: NumericScenario[] }>(
        "rich-schema/business-rich-v0.json",
        { numericScenarios: [] },
      );
      const user = await newUser(server, "ty03");
      const seed = await attached(user);
      for (const scenario of numericScenarios) {
        const columns = Object.keys(scenario.local);
        const values = columns.map((column) => localValue(column, scenario.local[column]!));
        const withFlag = columns.includes("enabled_flag") ? [] : ["enabled_flag"];
        await seed.run(
          `INSERT INTO typed_rows (id, name, ${[...columns, ...withFlag].join(", ")}) VALUES (?, ?, ${[...columns, ...withFlag].map(() => "?").join(", ")})`,
          [randomUUID(), scenario.name, ...values, ...withFlag.map(() => 1n)],
        );
      }
      await seed.client.pushPending();
      const puller = await attached(user);
      await puller.client.pullToStable();
      const hydrated = await attached(user);
      for (const device of [seed, puller, hydrated]) {
        for (const scenario of numericScenarios) {
          const columns = Object.keys(scenario.committed);
          const [row] = await device.query<Record<string, SqliteValue>>(
            `SELECT ${columns.join(", ")} FROM typed_rows WHERE name = ?`,
            [scenario.name],
          );
          const expected = Object.fromEntries(
            columns.map((column) => [column, localValue(column, scenario.committed[column]!)]),
          );
          expect({ scenario: scenario.name, row }).toEqual({ scenario: scenario.name, row: expected });
        }
        expect(await device.isClean()).toBe(true);
      }
    },
  );

  it("TY-04 TY-05 BLOB keys travel as dashed UUIDs, BLOB data as base64, and come back as the same bytes", async () => {
    const user = await newUser(server, "ty04");
    const writer = await attached(user);
    const pairs = [
      {
        file: "12345678-9abc-4def-8012-3456789abcde",
        review: "22345678-9abc-4def-8012-3456789abcde",
        data: [1, 2, 3, 255],
      },
      {
        file: "32345678-9abc-4def-8012-3456789abcde",
        review: "42345678-9abc-4def-8012-3456789abcde",
        data: [0xaa, 0xbb, 0xcc, 0xdd],
      },
    ];
    for (const [index, pair] of pairs.entries()) {
      await writer.run("INSERT INTO files (id, name, data) VALUES (?, ?, ?)", [
        uuidBytes(pair.file),
        `file ${index}`,
        Uint8Array.from(pair.data),
      ]);
      await writer.run("INSERT INTO file_reviews (id, review, file_id) VALUES (?, ?, ?)", [
        uuidBytes(pair.review),
        `review ${index}`,
        uuidBytes(pair.file),
      ]);
    }
    await writer.run(
      "INSERT INTO typed_rows (id, name, enabled_flag, data) VALUES (?, 'blob', 1, x'001122ff')",
      [randomUUID()],
    );
    await writer.run("INSERT INTO typed_rows (id, name, enabled_flag, data) VALUES (?, 'no blob', 1, NULL)", [
      randomUUID(),
    ]);
    await writer.client.pushPending();
    const uploaded = writer.net
      .to("push_session_chunk")
      .flatMap(
        (request) =>
          (request.body as { rows: { table: string; key: unknown; payload: Record<string, unknown> }[] })
            .rows,
      );
    expect(uploaded.find((row) => row.table === "files" && row.payload.name === "file 0")).toMatchObject({
      key: { id: pairs[0]!.file },
      payload: { id: pairs[0]!.file, data: Buffer.from([1, 2, 3, 255]).toString("base64") },
    });
    expect(
      uploaded.find((row) => row.table === "file_reviews" && row.payload.review === "review 0")?.payload,
    ).toMatchObject({
      file_id: pairs[0]!.file,
    });
    expect(uploaded.find((row) => row.payload.name === "blob")?.payload).toMatchObject({ data: "ABEi/w==" });
    expect(uploaded.find((row) => row.payload.name === "no blob")?.payload).toMatchObject({ data: null });

    const puller = await attached(user);
    await writer.insertUser("Later");
    await writer.client.pushPending();
    await puller.client.pullToStable();
    const hydrated = await attached(user);
    for (const device of [puller, hydrated]) {
      const files = await device.query<{ id: Uint8Array; name: string; data: Uint8Array }>(
        "SELECT id, name, data FROM files ORDER BY name",
      );
      expect(files.map((file) => [Buffer.from(file.id).toString("hex"), file.name, [...file.data]])).toEqual(
        pairs.map((pair, index) => [pair.file.replaceAll("-", ""), `file ${index}`, pair.data]),
      );
      expect(
        await device.query(
          "SELECT r.review, lower(hex(r.file_id)) AS file FROM file_reviews r JOIN files f ON f.id = r.file_id ORDER BY r.review",
        ),
      ).toEqual(
        pairs.map((pair, index) => ({ review: `review ${index}`, file: pair.file.replaceAll("-", "") })),
      );
      const keys = await device.query<{ key_json: string }>(
        "SELECT key_json FROM _sync_row_state WHERE table_name = 'files' ORDER BY key_json",
      );
      expect(keys.map((row) => JSON.parse(row.key_json).id)).toEqual(
        pairs.map((pair) => pair.file.replaceAll("-", "")),
      );
      expect(await device.isClean()).toBe(true);
    }
    // An authoritative delete of a BLOB-keyed row finds the local row by its 16-byte key.
    await writer.run("DELETE FROM files WHERE id = ?", [uuidBytes(pairs[1]!.file)]);
    await writer.client.pushPending();
    await puller.client.pullToStable();
    expect(await puller.count("files")).toBe(1);
    expect(await puller.count("file_reviews")).toBe(1);
  });

  it("TY-06 a timestamp pushed with an offset replays as the same instant and is not queued again", async () => {
    const user = await newUser(server, "ty06");
    const device = await attached(user);
    const id = randomUUID();
    await device.run(
      "INSERT INTO typed_rows (id, name, enabled_flag, created_at) VALUES (?, 'offset', 1, ?)",
      [id, "2026-03-24T10:42:11-08:00"],
    );
    await device.client.pushPending();
    expect(await device.isClean()).toBe(true);
    const [row] = await device.query<{ created_at: string }>(
      "SELECT created_at FROM typed_rows WHERE id = ?",
      [id],
    );
    expect(Date.parse(row!.created_at)).toBe(Date.parse("2026-03-24T18:42:11Z"));
  });
});

function randomBytes16(): Uint8Array {
  return uuidBytes(randomUUID());
}
