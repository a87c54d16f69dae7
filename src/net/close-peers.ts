/**
 * Shutdown of an endpoint's WebSockets: each gets a close frame, and one that has not finished the
 * close handshake after the endpoint's `shutdownTimeoutMs` is terminated.
 */

/** What shutdown needs of one open connection. */
export interface ClosingPeer {
  /** Starts the close handshake. */
  close(): void;
  /** Drops the socket without a handshake. */
  terminate(): void;
  /** Calls `cb` once the connection is closed (at once when it already is). */
  onClosed(cb: () => void): void;
}

/** Closes every peer, terminating those still open after `timeoutMs`; resolves when all are closed. */
export function closeWithin(peers: Iterable<ClosingPeer>, timeoutMs: number): Promise<void> {
  const gone = [...peers].map(
    (peer) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(() => peer.terminate(), timeoutMs);
        peer.onClosed(() => {
          clearTimeout(timer);
          resolve();
        });
        peer.close();
      }),
  );
  return Promise.all(gone).then(() => undefined);
}
