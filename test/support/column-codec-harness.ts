/**
 * Test harness for the column codec: real tables whose AFTER INSERT trigger stores each column
 * with `captureSql` in a jsonb stage row, written from a session whose TimeZone, DateStyle and
 * extra_float_digits differ from the defaults, so captured text provably ignores them.
 */
import type { WireValue } from "@oversync/protocol";
import type pg from "pg";
import { type ColumnCodec, describeColumn } from "../../packages/server/src/codec/column-codec.js";

/** Session settings unlike any default, applied before every write. */
export const HOSTILE_SESSION_SQL =
  "SET TimeZone = 'Asia/Kathmandu'; SET DateStyle = 'SQL, DMY'; SET extra_float_digits = 0; SET bytea_output = 'escape'";

/** A table with one capture trigger, plus the codecs bootstrap would derive from its catalog rows. */
export interface CaptureTable {
  readonly codecs: ReadonlyMap<string, ColumnCodec>;
  /** Validates `values` with fromWire, inserts them, and returns the captured row rendered with toWire. */
  roundTrip(values: Readonly<Record<string, unknown>>): Promise<Record<string, WireValue>>;
  /** The number of rows in the table. */
  count(): Promise<number>;
}

let tableCounter = 0;

/** Creates `columns` (name → SQL type declaration) in a new table with a capture trigger. */
export async function createCaptureTable(
  client: pg.ClientBase,
  columns: Readonly<Record<string, string>>,
): Promise<CaptureTable> {
  const table = `codec_${++tableCounter}`;
  const names = Object.keys(columns);
  const columnSql = names.map((name) => `${quote(name)} ${columns[name]}`).join(", ");
  await client.query(`CREATE TABLE ${table} (row_id bigserial PRIMARY KEY, ${columnSql})`);
  await client.query(`CREATE TABLE ${table}_stage (row_id bigint PRIMARY KEY, doc jsonb NOT NULL)`);

  const catalog = await client.query<{ name: string; typname: string; typmod: number; notnull: boolean }>(
    `SELECT a.attname AS name, t.typname, a.atttypmod AS typmod, a.attnotnull AS notnull
       FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
      WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped AND a.attname <> 'row_id'
      ORDER BY a.attnum`,
    [table],
  );
  const codecs = new Map(
    catalog.rows.map((row) => [
      row.name,
      describeColumn({ name: row.name, dataType: row.typname, typmod: row.typmod, notNull: row.notnull }),
    ]),
  );
  const captured = [...codecs.values()]
    .map((codec) => `${literal(codec.name)}, ${codec.captureSql(`NEW.${quote(codec.name)}`)}`)
    .join(", ");
  await client.query(
    `CREATE FUNCTION ${table}_capture() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
       INSERT INTO ${table}_stage (row_id, doc) VALUES (NEW.row_id, jsonb_build_object(${captured}));
       RETURN NEW;
     END $$`,
  );
  await client.query(
    `CREATE TRIGGER ${table}_capture AFTER INSERT ON ${table} FOR EACH ROW EXECUTE FUNCTION ${table}_capture()`,
  );

  return {
    codecs,
    async roundTrip(values) {
      const entries = Object.entries(values).map(([name, value]) => {
        const codec = codecs.get(name);
        if (codec === undefined) throw new Error(`no column ${name} in ${table}`);
        return { codec, bound: codec.fromWire(value, `rows[0].payload.${name}`) };
      });
      const columnList = entries.map(({ codec }) => quote(codec.name)).join(", ");
      const placeholders = entries.map(({ bound }, index) => `$${index + 1}::${bound.cast}`).join(", ");
      await client.query(HOSTILE_SESSION_SQL);
      const inserted = await client.query<{ row_id: string }>(
        `INSERT INTO ${table} (${columnList}) VALUES (${placeholders}) RETURNING row_id`,
        entries.map(({ bound }) => bound.param),
      );
      const stage = await client.query<{ doc: Record<string, unknown> }>(
        `SELECT doc FROM ${table}_stage WHERE row_id = $1`,
        [inserted.rows[0]!.row_id],
      );
      const doc = stage.rows[0]!.doc;
      return Object.fromEntries(
        entries.map(({ codec }) => [codec.name, codec.toWire(doc[codec.name])] as const),
      );
    },
    async count() {
      const result = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`);
      return Number(result.rows[0]!.n);
    },
  };
}

function quote(identifier: string): string {
  return `"${identifier.replaceAll('"', '""')}"`;
}

function literal(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}
