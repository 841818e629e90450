/** Errors bootstrap raises to its host (not wire errors): bad registrations and foreign layouts. */

/** The rule a registered table breaks. */
export type SchemaRule =
  | "registration"
  | "table_exists"
  | "lowercase_names"
  | "sync_key"
  | "scope_column"
  | "column_type"
  | "writable_columns"
  | "unique_keys"
  | "fk_closed"
  | "fk_scope"
  | "fk_deferrable"
  | "fk_actions";

/** One violation: which table, which rule, and what to change. */
export interface SchemaViolation {
  readonly schema: string;
  readonly table: string;
  readonly rule: SchemaRule;
  readonly message: string;
}

/** Bootstrap refused the registered tables; `violations` lists every problem found, not just the first. */
export class UnsupportedSchemaError extends Error {
  override readonly name = "UnsupportedSchemaError";
  readonly code = "unsupported_schema";
  readonly violations: readonly SchemaViolation[];

  constructor(violations: readonly SchemaViolation[]) {
    super(
      `registered tables are not supported by oversync (${violations.length} problem${violations.length === 1 ? "" : "s"}):\n${violations
        .map((v) => `- ${v.schema}.${v.table} [${v.rule}]: ${v.message}`)
        .join("\n")}`,
    );
    this.violations = violations;
  }
}

/** Bootstrap found a `sync` schema this build cannot use (another layout version or foreign objects). */
export class SyncLayoutError extends Error {
  override readonly name = "SyncLayoutError";
  readonly code = "sync_layout_mismatch";
}
