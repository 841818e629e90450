/** A bounded cache of prepared statements keyed by SQL text, oldest evicted first. */
export class StatementCache<S> {
  private readonly statements = new Map<string, S>();

  constructor(
    private readonly prepare: (sql: string) => S,
    private readonly capacity = 256,
  ) {}

  /** The prepared statement for `sql`, preparing it on first use. */
  get(sql: string): S {
    const cached = this.statements.get(sql);
    if (cached !== undefined) {
      // Re-inserting marks the entry as most recently used.
      this.statements.delete(sql);
      this.statements.set(sql, cached);
      return cached;
    }
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
