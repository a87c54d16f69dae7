/**
 * The WebSocket the client needs: the WHATWG interface, which browsers, workers, Tauri and
 * Electron webviews, Deno, Bun, Node ≥ 22 and the `ws` package all provide. Runtimes differ only in
 * the factory the entry point injects.
 */
export interface WebSocketLike {
  readonly readyState: number;
  readonly protocol: string;
  binaryType: string;
  send(data: string | ArrayBufferLike | Uint8Array): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((this: WebSocketLike, ev: { data: unknown }) => void) | null;
  onclose: ((this: WebSocketLike, ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  /**
   * HTTP status of a refused handshake, where the runtime exposes it (Node's `ws`). Browsers hide
   * it (WHATWG: "fail the WebSocket connection"), so it stays undefined there.
   */
  httpStatus?: number;
  /**
   * The category of a refused token (the `error_description` of a 401's `WWW-Authenticate: Bearer`
   * header, such as `expired`), where the runtime exposes response headers (Node's `ws`).
   */
  httpReason?: string;
  /**
   * Protocol Pings received from the server so far, where the runtime shows them (Node's `ws`):
   * the heartbeat counts them as signs of life (docs/client.md, "Heartbeat").
   */
  pings?: number;
  /**
   * The client connection this socket belongs to: its handlers are functions shared by every
   * client, which find their connection here (the `this` of a WebSocket event handler is the socket).
   */
  owner?: unknown;
  /** The system error code of a network failure (`ECONNREFUSED`, `ENOTFOUND`), where the runtime exposes it (Node's `ws`). */
  errorCode?: string;
}

/** Opens a socket; the entry point of each runtime provides one. */
export type SocketFactory = (url: string, protocols: string[]) => WebSocketLike;

/** A WHATWG `WebSocket` constructor (the browser's, or an injected one). */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;
