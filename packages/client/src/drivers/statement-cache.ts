/**
 * A bounded cache of prepared statements keyed by SQL text, oldest prepared evicted first. A hit
 * does not reorder the map: that bookkeeping cost more than the rare re-prepare it would save (an
 * app runs far fewer distinct statements than the capacity).
 */
export class StatementCache<S> {
  private readonly statements = new Map<string, S>();

  constructor(
    private readonly prepare: (sql: string) => S,
    private readonly capacity = 256,
  ) {}

  /** The prepared statement for `sql`, preparing it on first use. */
  get(sql: string): S {
    const cached = this.statements.get(sql);
    if (cached !== undefined) return cached;
    const statement = this.prepare(sql);
    this.statements.set(sql, statement);
    if (this.statements.size > this.capacity) {
      const oldest = this.statements.keys().next().value;
      if (oldest !== undefined) this.statements.delete(oldest);
    }
    return statement;
  }

  clear(): void {
    this.statements.clear();
  }
}
