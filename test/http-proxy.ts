/**
 * An HTTP proxy on 127.0.0.1 for the SSE fallback's tests: it forwards every plain request (its
 * body and its response streamed both ways) to its upstreams in turn — each request to the next, a
 * round-robin balancer without sticky sessions — and either refuses every WebSocket upgrade (a
 * proxy that strips them: 403) or tunnels it to the next upstream. Bounded: loopback only, and
 * `close()` ends every socket it made.
 */
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';

export interface HttpProxy {
  readonly port: number;
  /** `ws://127.0.0.1:<port>/ws` */
  readonly url: string;
  /** Plain requests forwarded, per upstream index. */
  readonly forwarded: number[];
  /** Upgrade requests refused (or tunnelled). */
  readonly upgrades: number;
  /** Severs every open connection now (both sides see the TCP connection drop). */
  severAll(): void;
  /** While paused, new connections are reset at once; `resume()` ends it. */
  pause(): void;
  resume(): void;
  close(): Promise<void>;
}

/**
 * Which upstream a plain request goes to. The default is strict round robin; a test that must see
 * POSTs cross nodes whatever the clients' timing routes by session instead (`alternateBySession`).
 */
export type Route = (req: IncomingMessage, roundRobin: () => number) => number;

/**
 * Each session's POSTs alternate between the upstreams (its first to upstream 0, its second to 1,
 * …) and everything else goes round robin: on two nodes exactly every other POST of a session lands
 * on the node that does not hold it, however the clients' requests interleave. (Plain round robin
 * with an even number of clients in lockstep can send every POST to its own session's node.)
 */
export function alternateBySession(upstreams: number): Route {
  const counts = new Map<string, number>();
  return (req, roundRobin) => {
    const session = req.method === 'POST' ? new URL(req.url ?? '/', 'http://x').searchParams.get('session') : null;
    if (!session) return roundRobin();
    const n = counts.get(session) ?? 0;
    counts.set(session, n + 1);
    return n % upstreams;
  };
}

export async function createHttpProxy(upstreams: number[], o: { refuseUpgrades: boolean; route?: Route }): Promise<HttpProxy> {
  let next = 0;
  let upgrades = 0;
  let paused = false;
  const forwarded = upstreams.map(() => 0);
  const sockets = new Set<Duplex | Socket>();
  const track = (s: Duplex | Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => s.destroy());
  };
  const pick = () => {
    const i = next++ % upstreams.length;
    return i;
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const i = o.route ? o.route(req, pick) : pick();
    forwarded[i]!++;
    const up = request({ host: '127.0.0.1', port: upstreams[i], method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      res.flushHeaders();
      answer.pipe(res);
    });
    up.on('error', () => res.destroy());
    res.on('close', () => up.destroy());
    req.pipe(up);
  });
  server.on('connection', (s: Socket) => {
    if (paused) return void s.destroy();
    track(s);
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    upgrades++;
    if (o.refuseUpgrades) {
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const up = connect(upstreams[pick()]!, '127.0.0.1');
    track(up);
    const lines = [`${req.method} ${req.url} HTTP/1.1`, ...Object.entries(req.headers).map(([k, v]) => `${k}: ${String(v)}`)];
    up.write(`${lines.join('\r\n')}\r\n\r\n`);
    if (head.length) up.write(head);
    socket.pipe(up);
    up.pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    url: `ws://127.0.0.1:${port}/ws`,
    forwarded,
    get upgrades() {
      return upgrades;
    },
    severAll() {
      for (const s of sockets) s.destroy();
    },
    pause() {
      paused = true;
      for (const s of sockets) s.destroy();
    },
    resume() {
      paused = false;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
