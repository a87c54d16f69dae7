/**
 * `switchboard/client` for browsers, workers, Tauri/Electron webviews, Deno and Bun: uses the
 * runtime's WHATWG `WebSocket`. Node resolves the `node` export condition to `./node.js`, which
 * uses `ws` instead, so this file never pulls Node-only code into a bundle.
 */
import { createClient } from './client.js';
import type { ClientOptions, UrlProvider } from './options.js';
import type { SocketFactory, WebSocketConstructor } from './socket.js';
import type { CommandsOf, MemberInfoOf, StreamsOf, TopicsOf, UploadsOf } from '../protocol/api.js';
import type { Client } from './types.js';

/**
 * Connects to a Switchboard server. Returns at once; the client opens in the background, queues
 * requests until then, and reconnects by itself.
 *
 * @example
 * import { connect } from 'switchboard/client';
 * const client = connect('wss://example.com/ws', { token: () => getToken() });
 * const sum = await client.call('add', { a: 2, b: 3 });
 * client.subscribe('room:lobby', (msg) => render(msg));
 */
export function connect<Api = unknown>(
  url: UrlProvider,
  options: ClientOptions = {},
): Client<CommandsOf<Api>, StreamsOf<Api>, UploadsOf<Api>, TopicsOf<Api>, MemberInfoOf<Api>> {
  // The browser's WebSocket has no TLS settings: it trusts what the system trusts.
  if (options.tls) throw new TypeError('options.tls works only under Node');
  const WS = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (!WS) {
    throw new TypeError('No WebSocket in this runtime: pass options.WebSocket, or import switchboard/client from Node (uses ws)');
  }
  const factory: SocketFactory = (u, protocols) => new WS(u, protocols);
  return createClient(url, options, factory);
}

export * from './exports.js';
