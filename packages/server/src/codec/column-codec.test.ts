import { randomBytes } from "node:crypto";
import { OversyncError, encodeBase64, encodeSqliteValue } from "@oversync/protocol";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CaptureTable, createCaptureTable } from "../../../../test/support/column-codec-harness.js";
import { fixtureTally, readContract, requireContracts } from "../../../../test/support/contracts.js";
import { type TestDatabase, createTestDatabase } from "../../../../test/support/postgres.js";
import { UnsupportedColumnTypeError, describeColumn } from "./column-codec.js";

const NUMERIC_FIXTURE = "canonical-json/jcs-uniform-numeric-strings.json";
const RICH_FIXTURE = "rich-schema/business-rich-v0.json";

interface ValueCase {
  name: string;
  uploaded_wire: string;
  postgres_destination: string;
  committed_server: string | boolean;
}

interface InvalidCase {
  name: string;
  family: "integer" | "decimal" | "float" | "boolean";
  input: unknown;
  category: string;
  outcome: string;
}

interface NumericFixture {
  integer_cases: ValueCase[];
  decimal_cases: ValueCase[];
  float_cases: ValueCase[];
  boolean_cases: ValueCase[];
  invalid_cases: InvalidCase[];
}

interface RichFixture {
  numericScenarios: {
    name: string;
    local: Record<string, string>;
    committed: Record<string, string>;
  }[];
}

const haveContracts = requireContracts();
const numeric = haveContracts ? readContract<NumericFixture>(NUMERIC_FIXTURE) : undefined;
const rich = haveContracts ? readContract<RichFixture>(RICH_FIXTURE) : undefined;

let db: TestDatabase;
let client: pg.PoolClient;

beforeAll(async () => {
  db = await createTestDatabase("oversync_codec");
  client = await db.pool.connect();
});

afterAll(async () => {
  client?.release();
  await db?.drop();
});

const { counted } = fixtureTally();

/** One single-column capture table per PostgreSQL destination type, created on first use. */
const tablesByType = new Map<string, Promise<CaptureTable>>();
function tableFor(type: string): Promise<CaptureTable> {
  let table = tablesByType.get(type);
  if (table === undefined) {
    table = createCaptureTable(client, { v: type });
    tablesByType.set(type, table);
  }
  return table;
}

describe.runIf(haveContracts)(`${NUMERIC_FIXTURE} value cases through real PostgreSQL`, () => {
  for (const group of ["integer_cases", "decimal_cases", "float_cases", "boolean_cases"] as const) {
    const cases = numeric?.[group] ?? [];
    it.each(cases.map((c) => [c.name, c] as const))(`${group} %s`, (_name, c) =>
      counted(`${NUMERIC_FIXTURE} ${group}`, async () => {
        const table = await tableFor(c.postgres_destination);
        const row = await table.roundTrip({ v: c.uploaded_wire });
        expect(row.v).toStrictEqual(c.committed_server);
      })(),
    );
  }
});

const INVALID_FAMILY_TYPES = {
  integer: "int8",
  decimal: "numeric(30,9)",
  float: "float8",
  boolean: "boolean",
} as const;

describe.runIf(haveContracts)(`${NUMERIC_FIXTURE} invalid_cases`, () => {
  it.each((numeric?.invalid_cases ?? []).map((c) => [c.name, c] as const))(
    "%s is rejected before mutation",
    (_name, c) =>
      counted(`${NUMERIC_FIXTURE} invalid_cases`, async () => {
        expect(c.outcome).toBe("reject_before_mutation");
        const table = await tableFor(INVALID_FAMILY_TYPES[c.family]);
        const before = await table.count();
        const attempt = table.roundTrip({ v: c.input });
        await expect(attempt).rejects.toBeInstanceOf(OversyncError);
        await expect(attempt).rejects.toMatchObject({
          code: "push_chunk_invalid",
          status: 400,
          message: expect.stringMatching(/^rows\[0\]\.payload\.v: /),
        });
        expect(await table.count()).toBe(before);
      })(),
  );
});

/** typed_rows as the live-server harness expects it (protocol-latest §5). */
const TYPED_ROWS = {
  id: "uuid NOT NULL",
  name: "text NOT NULL",
  note: "text",
  count_value: "int8",
  small_count: "int2",
  medium_count: "int4",
  exact_amount: "numeric(30,10)",
  enabled_flag: "boolean NOT NULL",
  rating: "float8",
  float4_value: "float4",
  data: "bytea",
  created_at: "timestamptz",
} as const;

/** The client's column kinds for typed_rows (rich-schema logicalType), to encode local values for upload. */
const TYPED_ROWS_KINDS = {
  count_value: "INTEGER",
  small_count: "INTEGER",
  medium_count: "INTEGER",
  enabled_flag: "INTEGER",
  exact_amount: "TEXT",
  rating: "REAL",
  float4_value: "REAL",
} as const;

describe("typed_rows columns", () => {
  let typedRows: CaptureTable;
  beforeAll(async () => {
    typedRows = await createCaptureTable(client, TYPED_ROWS);
  });

  const base = {
    id: "56565656-5656-5656-5656-565656565656",
    name: "typed",
    enabled_flag: "0",
  };

  describe.runIf(haveContracts)(`${RICH_FIXTURE} numericScenarios`, () => {
    it.each((rich?.numericScenarios ?? []).map((s) => [s.name, s] as const))("%s", (_name, scenario) =>
      counted(`${RICH_FIXTURE} numericScenarios`, async () => {
        const upload: Record<string, string | null> = {};
        for (const [column, local] of Object.entries(scenario.local)) {
          const kind = TYPED_ROWS_KINDS[column as keyof typeof TYPED_ROWS_KINDS];
          const value = kind === "INTEGER" ? BigInt(local) : kind === "REAL" ? Number(local) : local;
          upload[column] = encodeSqliteValue(kind, value);
        }
        const row = await typedRows.roundTrip({ ...base, ...upload });
        for (const [column, committed] of Object.entries(scenario.committed)) {
          // The fixture spells committed booleans "true"/"false"; the wire carries JSON booleans
          // (protocol-latest §8 item 3), so the boolean column is compared as a boolean.
          const expected = column === "enabled_flag" ? committed === "true" : committed;
          expect(row[column], column).toStrictEqual(expected);
        }
      })(),
    );
  });

  it("round-trips every typed_rows type exactly, in a session with non-default settings", async () => {
    const text = 'naïve "quoted" \\ back\nline\ttab\u0001 \u2028 <&> 😀 日本';
    const upload = {
      id: "0190f1a2-7b3c-7d4e-8f50-123456789abc",
      name: text,
      note: null,
      count_value: "-9223372036854775808",
      small_count: "-32768",
      medium_count: "2147483647",
      exact_amount: "0.0000000001",
      enabled_flag: "1",
      rating: "6.57111473696007",
      float4_value: "0.1",
      data: "AAEC/f7/",
      created_at: "2026-03-24T18:42:11.123456+05:30",
    };
    const row = await typedRows.roundTrip(upload);
    expect(row).toStrictEqual({
      ...upload,
      exact_amount: "0.0000000001",
      enabled_flag: true,
      float4_value: "0.10000000149011612",
      created_at: "2026-03-24T13:12:11.123456+00:00",
    });
  });

  it("bytea: empty, 1 MiB and every byte value round-trip bit for bit", async () => {
    const everyByte = Uint8Array.from({ length: 256 }, (_, index) => index);
    const large = randomBytes(1024 * 1024);
    for (const bytes of [new Uint8Array(0), everyByte, large]) {
      const wire = encodeBase64(bytes);
      const row = await typedRows.roundTrip({ ...base, data: wire });
      expect(row.data).toBe(wire);
      expect(Buffer.from(row.data as string, "base64").equals(Buffer.from(bytes))).toBe(true);
    }
  });

  it("timestamptz renders UTC with microseconds only when present", async () => {
    const cases: [string, string][] = [
      ["2026-03-24T18:42:11Z", "2026-03-24T18:42:11+00:00"],
      ["2026-03-24T18:42:11.5-02:00", "2026-03-24T20:42:11.5+00:00"],
      ["2026-03-24 18:42:11", "2026-03-24T18:42:11+00:00"],
      ["2026-03-24T18:42", "2026-03-24T18:42:00+00:00"],
      ["2026-03-24", "2026-03-24T00:00:00+00:00"],
      ["2024-02-29T23:59:59.9999994+0100", "2024-02-29T22:59:59.999999+00:00"],
      ["0001-01-01T00:00:00Z", "0001-01-01T00:00:00+00:00"],
    ];
    for (const [sent, committed] of cases) {
      const row = await typedRows.roundTrip({ ...base, created_at: sent });
      expect(row.created_at, sent).toBe(committed);
    }
  });

  it("NULL passes for nullable columns and is refused for NOT NULL ones, naming the field", async () => {
    const row = await typedRows.roundTrip({
      ...base,
      note: null,
      count_value: null,
      rating: null,
      float4_value: null,
      data: null,
      created_at: null,
      exact_amount: null,
    });
    expect(row).toMatchObject({ note: null, count_value: null, rating: null, data: null, created_at: null });
    const before = await typedRows.count();
    await expect(typedRows.roundTrip({ ...base, enabled_flag: null })).rejects.toMatchObject({
      code: "push_chunk_invalid",
      message: 'rows[0].payload.enabled_flag: is null, but column "enabled_flag" is NOT NULL',
    });
    await expect(typedRows.roundTrip({ ...base, name: undefined })).rejects.toMatchObject({
      code: "push_chunk_invalid",
      message: expect.stringMatching(/^rows\[0\]\.payload\.name: is missing/),
    });
    expect(await typedRows.count()).toBe(before);
  });

  it.each([
    ["count_value", 42, /must be a JSON string/],
    ["count_value", "01", /not canonical/],
    ["small_count", "32768", /outside the int2 range/],
    ["medium_count", "-2147483649", /outside the int4 range/],
    ["exact_amount", "1e20", /overflows numeric\(30,10\)/],
    ["exact_amount", "99999999999999999999.99999999995", /overflows numeric\(30,10\)/],
    ["exact_amount", "-0", /negative zero/],
    ["enabled_flag", "true", /"0" or "1"/],
    ["rating", "1e21", /not canonical: send "1e\+21"/],
    ["float4_value", "3.4028235677973366e+38", /overflows float4/],
    ["float4_value", "1e-46", /underflows float4/],
    ["data", "AQJ=", /not canonical base64/],
    ["data", "AQI", /not canonical base64/],
    ["data", 7, /base64 JSON string/],
    ["id", "56565656-5656-5656-5656-56565656565G", /canonical lowercase dashed UUID/],
    ["id", "ABCDEF01-5656-5656-5656-565656565656", /canonical lowercase dashed UUID/],
    ["name", "nul\u0000byte", /U\+0000/],
    ["name", "lone \ud800 surrogate", /surrogate/],
    ["name", 5, /JSON string/],
    ["created_at", "now", /expected shape/],
    ["created_at", "2026-02-30T00:00:00Z", /has day 30/],
    ["created_at", "2026-03-24T24:00:00Z", /has hour 24/],
    ["created_at", "2026-03-24T18:42:11+16:00", /offset of 16 hours/],
    ["created_at", "0000-03-24T18:42:11Z", /year 0000/],
  ])("%s = %j is rejected (%s)", async (column, value, reason) => {
    const before = await typedRows.count();
    const attempt = typedRows.roundTrip({ ...base, [column]: value });
    await expect(attempt).rejects.toMatchObject({
      code: "push_chunk_invalid",
      status: 400,
      message: expect.stringMatching(new RegExp(`^rows\\[0\\]\\.payload\\.${column}: .*${reason.source}`)),
    });
    expect(await typedRows.count()).toBe(before);
  });
});

describe("other column types", () => {
  it("varchar and bpchar enforce their length the way PostgreSQL does", async () => {
    const table = await createCaptureTable(client, { v: "varchar(3)", c: "char(3)" });
    expect(await table.roundTrip({ v: "abc", c: "ab" })).toStrictEqual({ v: "abc", c: "ab" });
    // Excess trailing spaces are cut, as PostgreSQL does on assignment.
    expect(await table.roundTrip({ v: "ab    ", c: "ab    " })).toStrictEqual({ v: "ab ", c: "ab" });
    expect(await table.roundTrip({ v: "日本語", c: "😀😀😀" })).toStrictEqual({ v: "日本語", c: "😀😀😀" });
    await expect(table.roundTrip({ v: "abcd", c: "a" })).rejects.toMatchObject({
      message: "rows[0].payload.v: text of 4 characters is too long for varchar(3)",
    });
    await expect(table.roundTrip({ v: "a", c: "abcd" })).rejects.toMatchObject({
      message: "rows[0].payload.c: text of 4 characters is too long for bpchar(3)",
    });
  });

  it("timestamp, date and time keep PostgreSQL's ISO text whatever the DateStyle", async () => {
    const table = await createCaptureTable(client, { ts: "timestamp", d: "date", t: "time" });
    expect(
      await table.roundTrip({ ts: "2026-03-24T18:42:11.25", d: "2026-03-24", t: "18:42:11.5" }),
    ).toStrictEqual({ ts: "2026-03-24T18:42:11.25", d: "2026-03-24", t: "18:42:11.5" });
    await expect(table.roundTrip({ ts: "2026-03-24T18:42:11Z", d: null, t: null })).rejects.toMatchObject({
      message: expect.stringMatching(/^rows\[0\]\.payload\.ts: timestamp .* without an offset/),
    });
    await expect(table.roundTrip({ ts: null, d: "24.03.2026", t: null })).rejects.toMatchObject({
      code: "push_chunk_invalid",
    });
    await expect(table.roundTrip({ ts: null, d: null, t: "18:60" })).rejects.toMatchObject({
      message: expect.stringMatching(/has minute 60/),
    });
  });

  it("json and jsonb travel as strings holding the JSON text", async () => {
    const table = await createCaptureTable(client, { j: "json", jb: "jsonb" });
    const row = await table.roundTrip({ j: '{"b": 1,  "a":[true,null]}', jb: '{"b":1,"a":[1.50,"x"]}' });
    expect(row).toStrictEqual({ j: '{"b": 1,  "a":[true,null]}', jb: '{"a": [1.50, "x"], "b": 1}' });
    for (const [column, value, reason] of [
      ["j", "{a:1}", /not valid JSON/],
      ["jb", '{"a":"\\u0000"}', /U\+0000/],
      ["jb", '["\\ud800"]', /unpaired UTF-16 surrogate/],
      ["jb", "[1e-20000]", /digits after the decimal point/],
      ["j", { a: 1 }, /JSON string/],
    ] as const) {
      const other = column === "j" ? "jb" : "j";
      await expect(table.roundTrip({ [column]: value, [other]: null }), String(value)).rejects.toMatchObject({
        code: "push_chunk_invalid",
        message: expect.stringMatching(new RegExp(`^rows\\[0\\]\\.payload\\.${column}: .*${reason.source}`)),
      });
    }
  });

  it("numeric with a negative scale or a scale above its precision rounds like PostgreSQL", async () => {
    const table = await createCaptureTable(client, { hundreds: "numeric(5,-2)", tiny: "numeric(3,5)" });
    expect(await table.roundTrip({ hundreds: "1234567", tiny: "0.001234" })).toStrictEqual({
      hundreds: "1234600",
      tiny: "0.00123",
    });
    await expect(table.roundTrip({ hundreds: "9999950", tiny: null })).rejects.toMatchObject({
      message: expect.stringMatching(/overflows numeric\(5,-2\)/),
    });
    await expect(table.roundTrip({ hundreds: null, tiny: "0.01" })).rejects.toMatchObject({
      message: expect.stringMatching(/overflows numeric\(3,5\)/),
    });
  });

  it("describes the column's type, family and cast", () => {
    const amount = describeColumn({
      name: "amount",
      dataType: "numeric",
      typmod: (30 << 16) + 10 + 4,
      notNull: true,
    });
    expect(amount).toMatchObject({
      dataType: "numeric",
      sqlType: "numeric(30,10)",
      family: "decimal",
      notNull: true,
    });
    expect(amount.fromWire("1.5", "p")).toStrictEqual({ param: "1.5", cast: "numeric" });
    const fromSchema = describeColumn({
      name: "amount",
      dataType: "decimal",
      numericPrecision: 8,
      numericScale: 4,
      notNull: false,
    });
    expect(fromSchema.sqlType).toBe("numeric(8,4)");
    expect(describeColumn({ name: "n", dataType: "bigint", notNull: false }).dataType).toBe("int8");
    expect(
      describeColumn({ name: "f", dataType: "real", notNull: false }).fromWire("0.5", "p"),
    ).toStrictEqual({
      param: "0.5",
      cast: "float8::float4",
    });
    expect(
      describeColumn({ name: "b", dataType: "bytea", notNull: false }).fromWire("AAH/", "p"),
    ).toStrictEqual({
      param: "\\x0001ff",
      cast: "bytea",
    });
  });

  it.each([
    ["interval", /has a type \(interval\) that oversync cannot sync; use one of int2, /],
    ["_int4", /has an array type \(_int4\)/],
    ["money", /\(money\)/],
    ["char", /\(char\)/],
    ["timetz", /\(timetz\)/],
  ])("refuses %s columns with UnsupportedColumnTypeError", (dataType, message) => {
    const attempt = () => describeColumn({ name: "odd", dataType, notNull: false });
    expect(attempt).toThrow(UnsupportedColumnTypeError);
    expect(attempt).toThrow(message);
    try {
      attempt();
    } catch (error) {
      expect(error).toMatchObject({ code: "unsupported_column_type", column: "odd", dataType });
    }
  });
});
