/**
 * A TCP proxy on 127.0.0.1 between clients and a server, for tests of what survives a network
 * failure: it can sever every connection after a random lifetime, refuse connections for a while
 * (a client "away"), sever everything at once, and switch to another upstream (a restarted server).
 * Bounded: it only ever talks to 127.0.0.1, and `close()` ends every socket it made.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

export interface ChaosProxy {
  readonly port: number;
  /** `ws://127.0.0.1:<port>/ws` */
  readonly url: string;
  /** Connections severed by the proxy so far (by chaos or `severAll`). */
  readonly cuts: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Sever every new connection after a random lifetime in [minMs, maxMs]; `false` stops it. */
  chaos(range: { minMs: number; maxMs: number } | false): void;
  /** Severs every open connection now. */
  severAll(): void;
  /** Refuses (resets) new connections until `resume()`; open ones are severed. */
  pause(): void;
  resume(): void;
  /** Sends new connections to another upstream port. */
  retarget(port: number): void;
  close(): Promise<void>;
}

export async function createChaosProxy(targetPort: number): Promise<ChaosProxy> {
  let target = targetPort;
  let range: { minMs: number; maxMs: number } | false = false;
  let paused = false;
  let cuts = 0;
  let accepted = 0;
  const pairs = new Set<{ down: Socket; up: Socket; timer: NodeJS.Timeout | undefined }>();

  const sever = (p: { down: Socket; up: Socket; timer: NodeJS.Timeout | undefined }, counted: boolean) => {
    if (!pairs.delete(p)) return;
    if (p.timer) clearTimeout(p.timer);
    if (counted) cuts++;
    // resetAndDestroy would be closest to a cable pull, but destroy() is enough: neither side
    // gets a WebSocket close frame, so both see an abnormal closure.
    p.down.destroy();
    p.up.destroy();
  };

  const server: Server = createServer((down) => {
    if (paused) return void down.destroy();
    accepted++;
    const up = connect(target, '127.0.0.1');
    const pair = { down, up, timer: undefined as NodeJS.Timeout | undefined };
    pairs.add(pair);
    down.pipe(up);
    up.pipe(down);
    const end = () => sever(pair, false);
    down.on('error', end).on('close', end);
    up.on('error', end).on('close', end);
    if (range) {
      const ms = range.minMs + Math.random() * (range.maxMs - range.minMs);
      pair.timer = setTimeout(() => sever(pair, true), ms);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;

  return {
    port,
    url: `ws://127.0.0.1:${port}/ws`,
    get cuts() {
      return cuts;
    },
    get accepted() {
      return accepted;
    },
    chaos(r) {
      range = r;
    },
    severAll() {
      for (const p of [...pairs]) sever(p, true);
    },
    pause() {
      paused = true;
      for (const p of [...pairs]) sever(p, true);
    },
    resume() {
      paused = false;
    },
    retarget(p) {
      target = p;
    },
    async close() {
      range = false;
      for (const p of [...pairs]) sever(p, false);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
