/**
 * `OversyncDialect`: Kysely's SQLite dialect (its adapter, introspector and query compiler) over
 * the client's `SqliteDriver`. Give it the driver the sync client was created with: writes through
 * Kysely then run on the connection the client watches, so they are captured for sync and reported
 * to live queries like any other write.
 */
import type { SqliteDriver } from "@oversync/client";
import {
  type DatabaseIntrospector,
  type Dialect,
  type DialectAdapter,
  type Driver,
  type Kysely,
  type QueryCompiler,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
} from "kysely";
import { OversyncKyselyDriver } from "./kysely-driver.js";
import { type IntegerMode, integerMode } from "./sqlite-values.js";

/** Options of `OversyncDialect`. */
export interface OversyncDialectConfig {
  /** The driver the app's `createSyncClient` was given (the same object, one connection). */
  readonly driver: SqliteDriver;
  /**
   * How INTEGER values come back: "number" (the default) as JS numbers, refusing one beyond
   * ±(2^53−1) with `integer_out_of_range`; "bigint" exactly as the driver reads them.
   */
  readonly integers?: IntegerMode;
}

/**
 * A Kysely dialect over the sync client's driver:
 * `new Kysely<Database>({ dialect: new OversyncDialect({ driver }) })`.
 */
export class OversyncDialect implements Dialect {
  readonly #driver: SqliteDriver;
  readonly #integers: IntegerMode;

  constructor(config: OversyncDialectConfig) {
    this.#driver = config.driver;
    this.#integers = integerMode(config.integers);
  }

  createDriver(): Driver {
    return new OversyncKyselyDriver(this.#driver, this.#integers);
  }

  createQueryCompiler(): QueryCompiler {
    return new SqliteQueryCompiler();
  }

  createAdapter(): DialectAdapter {
    return new SqliteAdapter();
  }

  createIntrospector(db: Kysely<unknown>): DatabaseIntrospector {
    return new SqliteIntrospector(db);
  }
}
