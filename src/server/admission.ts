/**
 * Connection admission: `limits.maxConnections` and `limits.maxConnectionsPerIp`, counted from the
 * moment an upgrade request is let through the gate (so a flood of slow handshakes counts too)
 * until its socket closes or it is refused.
 */
export class Admission {
  readonly #max: number;
  readonly #maxPerIp: number;
  readonly #perIp = new Map<string, number>();
  #total = 0;

  constructor(max: number, maxPerIp: number) {
    this.#max = max;
    this.#maxPerIp = maxPerIp;
  }

  /** Takes a slot for `ip`; returns the HTTP status to refuse with, or 0 when admitted. */
  admit(ip: string): 0 | 429 | 503 {
    if (this.#total >= this.#max) return 503;
    const n = this.#perIp.get(ip) ?? 0;
    if (n >= this.#maxPerIp) return 429;
    this.#perIp.set(ip, n + 1);
    this.#total++;
    return 0;
  }

  /** Gives back the slot `admit` took. */
  release(ip: string): void {
    const n = this.#perIp.get(ip);
    if (n === undefined) return;
    if (n <= 1) this.#perIp.delete(ip);
    else this.#perIp.set(ip, n - 1);
    this.#total--;
  }
}
