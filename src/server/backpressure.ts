/**
 * The server's own backpressure signal: which connections hold more than `limits.sendBufferBytes`
 * right now, and the `server.drained()` promises waiting for none to (docs/guarantees.md,
 * "Backpressure"). Whether such a connection is a slow consumer is the connection's own judgment
 * (connection.ts); this only counts them.
 */

/** Connections over their send-buffer bound, and who waits for them to drain. */
export class Backpressure {
  readonly #over = new Set<object>();
  #waiters: (() => void)[] = [];

  /** A connection passed the bound. */
  add(conn: object): void {
    this.#over.add(conn);
  }

  /** A connection wrote out its whole buffer, or was closed. */
  delete(conn: object): void {
    if (!this.#over.delete(conn) || this.#over.size > 0) return;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const resolve of waiters) resolve();
  }

  /** Connections over the bound now. */
  get size(): number {
    return this.#over.size;
  }

  /** Resolves at once when no connection is over the bound, else when the last one drains or closes. */
  drained(): Promise<void> {
    if (this.#over.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }
}
