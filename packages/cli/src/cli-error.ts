/** The one error type of the CLI: a stable `code` and a message that says what to do. */

/** Every failure the CLI reports, by code. */
export type CliErrorCode =
  /** Bad command line: unknown flag, missing value, malformed number. */
  | "usage"
  /** A setting from the environment is unusable (e.g. a malformed DATABASE_URL). */
  | "invalid_config"
  /** Another process holds the PGlite data directory. */
  | "data_dir_locked"
  /** The database could not be opened or reached. */
  | "database_unavailable"
  /** The HTTP server could not listen on the requested host and port. */
  | "listen_failed"
  /** A built-in example's tables exist in a shape the server cannot use. */
  | "example_schema_mismatch"
  /** The `serve --config` file is unreadable, not JSON, or has a missing or malformed field. */
  | "invalid_config_file"
  /** PostgreSQL refused the schema SQL of a `serve --config` file. */
  | "schema_sql_failed"
  /** Bootstrap refused the registered tables (each violation is listed in the message). */
  | "unsupported_schema"
  /** The database's `sync` schema belongs to another layout. */
  | "sync_layout_mismatch"
  /** The PGlite pool was used after close(). */
  | "pool_closed"
  /** A PGlite client was used or released after it was released. */
  | "client_released"
  /** A LISTEN channel name outside the portable form. */
  | "invalid_channel"
  /** `oversync bench --chart` was given a file that is not the results of a bench run. */
  | "invalid_results_file";

/** A CLI failure with its stable code. */
export class CliError extends Error {
  override readonly name = "CliError";
  readonly code: CliErrorCode;

  constructor(code: CliErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
  }
}
