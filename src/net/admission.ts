/**
 * Connection admission: `limits.maxConnections` and `limits.maxConnectionsPerIp`, counted from the
 * moment an upgrade request is let through (so a flood of slow handshakes counts too) until its
 * socket closes or it is refused. Shared by every WebSocket endpoint of the package.
 */

/** Counts connections in all and per address key (see {@link addressKey}). */
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

/**
 * A function that gives `ip`'s slot back once, however often it is called. It is created here, not
 * where the upgrade is handled, so its scope holds nothing but the two values: it lives as long as
 * the connection, and a closure over the handler's scope would keep the request alive with it.
 */
export function releaseOnce(admission: Admission, ip: string): () => void {
  let released = false;
  return () => {
    if (!released) admission.release(ip);
    released = true;
  };
}

/**
 * The key `limits.maxConnectionsPerIp` counts by: an IPv4 address (also when IPv4-mapped, so
 * `::ffff:1.2.3.4` and `1.2.3.4` are one host), or an IPv6 /64 — one host usually owns a whole /64,
 * so per-address counting would not limit it at all.
 */
export function addressKey(address: string | undefined): string {
  if (!address) return 'unknown';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!address.includes(':')) return address;
  // Expand '::' to get the first four groups of the address.
  const [head = '', tail = ''] = address.split('%')[0]!.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = address.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
  return `${groups.slice(0, 4).map((g) => g.toLowerCase().replace(/^0+(?=.)/, '')).join(':')}::/64`;
}
