/**
 * A bounded cache of prepared statements keyed by SQL text, oldest prepared evicted first. A hit
 * does not reorder the map: that bookkeeping cost more than the rare re-prepare it would save (an
 * app runs far fewer distinct statements than the capacity).
 */
export class StatementCache<S> {
  private readonly statements = new Map<string, S>();

  /** `dispose` frees an evicted statement, for bindings whose statements the GC does not free. */
  constructor(
    private readonly prepare: (sql: string) => S,
    private readonly capacity = 256,
    private readonly dispose?: (statement: S) => void,
  ) {}

  /** The prepared statement for `sql`, preparing it on first use. */
  get(sql: string): S {
    const cached = this.statements.get(sql);
    if (cached !== undefined) return cached;
    const statement = this.prepare(sql);
    this.statements.set(sql, statement);
    if (this.statements.size > this.capacity) {
      const [oldest, evicted] = this.statements.entries().next().value!;
      this.statements.delete(oldest);
      this.dispose?.(evicted);
    }
    return statement;
  }

  clear(): void {
    if (this.dispose !== undefined) for (const statement of this.statements.values()) this.dispose(statement);
    this.statements.clear();
  }
}
