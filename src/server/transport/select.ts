/**
 * The `runtime` option: which transport adapter a server gets (docs/server.md, "Runtimes and
 * transports").
 */
import type { Server as HttpServer } from 'node:http';
import type { Runtime } from '../options.js';
import { createBunTransport } from './bun.js';
import { createNodeTransport } from './node.js';
import type { CreateTransport, Transport, TransportOptions } from './types.js';

/** Whether this process runs under Bun (which also runs the Node adapter, through its `node:http` and `ws` compatibility). */
export function underBun(): boolean {
  return typeof (globalThis as { Bun?: unknown }).Bun !== 'undefined';
}

/**
 * Adapters other than Node's, by runtime; an adapter module registers itself here. The Node
 * adapter needs no registration: it is always there.
 */
export const TRANSPORTS: Partial<Record<Exclude<Runtime, 'auto' | 'node'>, CreateTransport>> = {
  // Loads under Node without harm: it touches `Bun` only when it listens.
  bun: createBunTransport,
};

/** The runtime `runtime` means here: `'auto'` is `'bun'` under Bun without an attached `server` (when the Bun adapter is present). */
export function resolveRuntime(runtime: Runtime, server: HttpServer | undefined): Exclude<Runtime, 'auto'> {
  if (runtime === 'auto') return underBun() && !server && TRANSPORTS.bun ? 'bun' : 'node';
  if (runtime === 'bun') {
    if (!underBun()) throw new TypeError("runtime 'bun' needs the Bun runtime; this process runs on Node (use 'node' or 'auto')");
    if (server) throw new TypeError("runtime 'bun' serves with Bun.serve and cannot attach to `server` (use 'node' to attach to an http.Server)");
  }
  return runtime;
}

/** Creates the transport of one server for the resolved runtime. */
export function createTransport(runtime: Exclude<Runtime, 'auto'>, o: TransportOptions & { server: HttpServer | undefined }): Transport {
  if (runtime === 'node') return createNodeTransport(o);
  const create = TRANSPORTS[runtime];
  if (!create) throw new TypeError(`runtime '${runtime}': no transport adapter for it is loaded`);
  return create(o);
}
