/**
 * `switchboard/sse`: the client's SSE + HTTP fallback for networks that block WebSockets
 * (docs/client.md, "When WebSockets are blocked"; docs/protocol.md §8). A plug-in: a client that
 * does not import it bundles none of it.
 *
 * @example
 * import { connect } from 'switchboard/client';
 * import { sse } from 'switchboard/sse';
 * const client = connect('wss://example.com/ws', { WebSocket: sse() });
 */
export { sse, type SseTransport, type SseTransportOptions, type TransportName } from './fallback.js';
export { SseClientSocket, sseUrl, type FetchLike } from './sse-socket.js';
