/**
 * The codec's range checks agree with PostgreSQL: for values that pass the wire grammar, fromWire
 * accepts exactly what PostgreSQL stores without error, so a value out of range is a 400 at upload
 * and never a failed statement at commit.
 */
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type TestDatabase, createTestDatabase } from "../../../../test/support/postgres.js";
import { type ColumnCodec, describeColumn } from "./column-codec.js";

let db: TestDatabase;
let client: pg.PoolClient;

beforeAll(async () => {
  db = await createTestDatabase("oversync_codec_bounds");
  client = await db.pool.connect();
});

afterAll(async () => {
  client?.release();
  await db?.drop();
});

/** A deterministic generator (mulberry32), so a failure reproduces. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Whether PostgreSQL stores `param` into `type` through the codec's cast without error. */
async function postgresAccepts(param: string, cast: string, type: string): Promise<boolean> {
  await client.query("SAVEPOINT probe");
  try {
    await client.query(`SELECT CAST($1::${cast} AS ${type})`, [param]);
    await client.query("RELEASE SAVEPOINT probe");
    return true;
  } catch {
    await client.query("ROLLBACK TO SAVEPOINT probe");
    return false;
  }
}

/** Compares codec and PostgreSQL verdicts over `values`; returns the disagreements. */
async function disagreements(codec: ColumnCodec, type: string, values: readonly string[]): Promise<string[]> {
  const wrong: string[] = [];
  await client.query("BEGIN");
  try {
    for (const value of values) {
      let codecAccepts = true;
      let param = value;
      let cast = codec.fromWire(null, "p").cast;
      try {
        const bound = codec.fromWire(value, "p");
        param = bound.param!;
        cast = bound.cast;
      } catch {
        codecAccepts = false;
      }
      const pgAccepts = await postgresAccepts(param, cast, type);
      if (codecAccepts !== pgAccepts) wrong.push(`${value}: codec ${codecAccepts}, PostgreSQL ${pgAccepts}`);
    }
  } finally {
    await client.query("ROLLBACK");
  }
  return wrong;
}

function numericCodec(precision?: number, scale?: number): ColumnCodec {
  const typmod = precision === undefined ? -1 : ((precision << 16) | ((scale ?? 0) & 0x7ff)) + 4;
  return describeColumn({ name: "v", dataType: "numeric", typmod, notNull: false });
}

/** Grammar-valid decimal text: random digits, point and exponent, biased toward the column's edges. */
function decimalSamples(seed: number, count: number, edge: number): string[] {
  const next = random(seed);
  const samples: string[] = [];
  for (let i = 0; i < count; i++) {
    const length = 1 + Math.floor(next() * 34);
    let digits = "";
    for (let d = 0; d < length; d++) digits += next() < 0.6 ? "9" : String(Math.floor(next() * 10));
    digits = digits.replace(/^0+(?=.)/, "");
    const point = Math.floor(next() * (digits.length + 1));
    let text =
      point > 0 && point < digits.length ? `${digits.slice(0, point)}.${digits.slice(point)}` : digits;
    if (text.startsWith("0") && !text.startsWith("0.") && text.length > 1)
      text = text.replace(/^0+/, "") || "0";
    if (next() < 0.4) text = `${text}e${Math.round((next() - 0.5) * 2 * edge)}`;
    const negative = next() < 0.5 && !/^0(\.0*)?(e.*)?$/.test(text);
    samples.push(negative ? `-${text}` : text);
  }
  return samples;
}

describe("numeric bounds agree with PostgreSQL", () => {
  const handPicked = [
    "0",
    "1e21",
    "999999999999999999999.9999999994",
    "999999999999999999999.9999999995",
    "-999999999999999999999.9999999995",
    "99999999.995",
    "99999999.994",
    "0.0000000005",
    "-0.0000000004",
    "1.25e3",
    "12.3",
    "0e99999999",
    "1e-16383",
    "1e-16384",
    "0e-16384",
    "1.5e-16382",
    "1e131071",
    "1e131072",
    "1e1000000000",
  ];
  it.each([
    ["numeric(30,9)", 30, 9, 25],
    ["numeric(10,2)", 10, 2, 14],
    ["numeric(8,4)", 8, 4, 10],
    ["numeric(30,10)", 30, 10, 25],
    ["numeric(1,0)", 1, 0, 3],
    ["numeric(5,-2)", 5, -2, 9],
    ["numeric(3,5)", 3, 5, 8],
    ["numeric", undefined, undefined, 40],
  ] as const)("%s", async (type, precision, scale, edge) => {
    const codec = numericCodec(precision, scale);
    const values = [...handPicked, ...decimalSamples(edge * 7919, 400, edge)];
    expect(await disagreements(codec, type, values)).toStrictEqual([]);
  });
});

/** Doubles `steps` ulps either side of `center`, as canonical text. */
function around(center: number, steps: number): string[] {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, center);
  const bits = view.getBigUint64(0);
  const out: string[] = [];
  for (let k = -steps; k <= steps; k++) {
    view.setBigUint64(0, bits + BigInt(k));
    out.push(String(view.getFloat64(0)));
  }
  return out;
}

describe("float bounds agree with PostgreSQL", () => {
  const next = random(42);
  const view = new DataView(new ArrayBuffer(8));
  const randomDoubles: string[] = [];
  while (randomDoubles.length < 400) {
    view.setUint32(0, Math.floor(next() * 2 ** 32));
    view.setUint32(4, Math.floor(next() * 2 ** 32));
    const value = view.getFloat64(0);
    if (Number.isFinite(value)) randomDoubles.push(Object.is(value, -0) ? "0" : String(value));
  }
  const float4Max = 3.4028234663852886e38;
  const float4OverflowEdge = 3.4028235677973366e38;
  const float4UnderflowEdge = 2 ** -150;

  it("float4: overflow and underflow to zero", async () => {
    const codec = describeColumn({ name: "v", dataType: "float4", notNull: false });
    const values = [
      ...around(float4Max, 3),
      ...around(float4OverflowEdge, 5),
      ...around(-float4OverflowEdge, 5),
      ...around(float4UnderflowEdge, 5),
      ...around(-float4UnderflowEdge, 5),
      ...around(2 ** -149, 3),
      ...randomDoubles,
    ];
    expect(await disagreements(codec, "float4", values)).toStrictEqual([]);
  });

  it("float8: every finite double, subnormals included", async () => {
    const codec = describeColumn({ name: "v", dataType: "float8", notNull: false });
    const edges = [...around(5e-324, 3), ...around(Number.MAX_VALUE, 3), ...around(-Number.MAX_VALUE, 3)];
    const finite = edges.filter((value) => Number.isFinite(Number(value)) && value !== "-0");
    expect(await disagreements(codec, "float8", [...finite, ...randomDoubles])).toStrictEqual([]);
  });
});

describe("integer bounds agree with PostgreSQL", () => {
  it.each([
    ["int2", -32768n, 32767n],
    ["int4", -2147483648n, 2147483647n],
    ["int8", -9223372036854775808n, 9223372036854775807n],
  ] as const)("%s", async (type, min, max) => {
    const codec = describeColumn({ name: "v", dataType: type, notNull: false });
    const values: string[] = ["0"];
    for (const edge of [min, max]) for (let k = -3n; k <= 3n; k++) values.push(String(edge + k));
    values.push(String(max * 10n), String(min * 10n));
    expect(await disagreements(codec, type, values)).toStrictEqual([]);
  });
});

describe("temporal values the codec accepts, PostgreSQL accepts", () => {
  // [value, whether the codec accepts it]; every accepted value must also be stored by PostgreSQL.
  it.each([
    ["timestamptz", "2026-03-24T18:42:11Z", true],
    ["timestamptz", "2024-02-29 00:00", true],
    ["timestamptz", "1999-12-31T23:59:59.999999999-15:59", true],
    ["timestamptz", "2023-02-29T00:00Z", false],
    ["timestamptz", "2026-13-01", false],
    ["timestamptz", "2026-04-31T00:00Z", false],
    ["timestamp", "2026-03-24T18:42:11", true],
    ["timestamp", "2024-02-29", true],
    ["timestamp", "9999-12-31 23:59:59.999999", true],
    ["timestamp", "2100-02-29T00:00", false],
    ["date", "2026-03-24", true],
    ["date", "2000-02-29", true],
    ["date", "0001-01-01", true],
    ["date", "1900-02-29", false],
    ["time", "00:00", true],
    ["time", "23:59:59.999999", true],
    ["time", "12:30:15.5", true],
    ["time", "23:59:60", false],
  ] as const)("%s %s", async (type, value, accepted) => {
    const codec = describeColumn({ name: "v", dataType: type, notNull: false });
    if (!accepted) {
      expect(() => codec.fromWire(value, "p")).toThrow(/^p: /);
      return;
    }
    const bound = codec.fromWire(value, "p");
    await client.query("BEGIN");
    try {
      expect(await postgresAccepts(bound.param!, bound.cast, type)).toBe(true);
    } finally {
      await client.query("ROLLBACK");
    }
  });
});
