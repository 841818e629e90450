/**
 * Makes PGlite speak values the way node-postgres does, so code written against a `pg.Pool` sees the
 * same JS types on either database: result text goes through node-postgres' own type parsers
 * (int8 and numeric stay strings, bytea becomes a Buffer, json/jsonb are parsed, timestamps become
 * Dates) and parameters go through node-postgres' own value preparation (Dates, arrays, objects,
 * bigints, Buffers sent binary) instead of PGlite's serializers.
 */
import { createRequire } from "node:module";
import type { PGlite } from "@electric-sql/pglite";
import pg from "pg";

type ParserMap = Record<number, (text: string) => unknown>;
type SerializerMap = Record<number, (value: unknown) => string>;

/** node-postgres' parameter conversion; `pg/lib/utils` is CommonJS without type declarations. */
const { prepareValue } = createRequire(import.meta.url)("pg/lib/utils.js") as {
  prepareValue(value: unknown): string | Buffer | null;
};

/** PostgreSQL assigns every built-in type an OID below this; user types get higher ones. */
const FIRST_NORMAL_OBJECT_ID = 16384;

/**
 * Result parsers for every type OID that PGlite or node-postgres treats specially, each taken from
 * node-postgres' registry (`pg.types`), so a type node-postgres leaves as text stays text here too.
 * The registry is read once, when the map is built.
 */
export function nodePostgresParsers(pglite: PGlite): ParserMap {
  const invalidOid: number = 0;
  const unparsed = pg.types.getTypeParser(invalidOid, "text");
  const oids = new Set<number>(Object.keys(pglite.parsers).map(Number).filter(Number.isInteger));
  for (let oid = 1; oid < FIRST_NORMAL_OBJECT_ID; oid++) {
    if (pg.types.getTypeParser(oid, "text") !== unparsed) oids.add(oid);
  }
  const parsers: ParserMap = {};
  for (const oid of oids) {
    const parse = pg.types.getTypeParser(oid, "text") as (text: string) => unknown;
    parsers[oid] = parse;
  }
  return parsers;
}

/**
 * Serializers that hand every prepared parameter to PGlite unchanged, whatever type PostgreSQL
 * inferred for it. Parameters are prepared by `prepareParams` first, so each one already is the text
 * (or the Buffer, bound in binary like node-postgres does) that node-postgres would send; PGlite's
 * own serializers would re-encode some of them (a JSON string for a jsonb parameter would be quoted
 * twice) and its fallback `toString()` would garble a Buffer. PGlite looks a serializer up by the
 * parameter's type OID, so one catch-all object serves every OID, user types included.
 */
export const passThroughSerializers: SerializerMap = new Proxy(
  {},
  { get: () => (value: unknown) => value as string },
);

/** Converts parameters exactly as node-postgres does before it sends them. */
export function prepareParams(values: readonly unknown[]): (string | Buffer | null)[] {
  return values.map((value) => prepareValue(value));
}
