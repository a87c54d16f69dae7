/**
 * Draining a node (docs/server.md, "Draining"): each connection is closed with MOVED as soon as it
 * has nothing in flight, so no answer is lost to the move; at the deadline the rest are closed all
 * the same. The server refuses new upgrades meanwhile (server.ts); this file only moves the
 * connections there are.
 */
import { CloseCode } from '../protocol/close-codes.js';

/** How often connections with requests in flight are looked at again while draining, in ms. */
export const DRAIN_POLL_MS = 20;

/** What the drain needs of one connection. */
export interface DrainingPeer {
  /** Whether the socket is still open (a closed one needs no move). */
  readonly open: boolean;
  close(code: number, reason: string): void;
}

/** The reason MOVED carries when a node drains (the client's `close` event shows it). */
export const DRAIN_REASON = 'server draining';

/**
 * Closes every connection of `connections` with MOVED once `inFlight` reports 0 for it, looking
 * again every {@link DRAIN_POLL_MS} ms at those still busy; at `deadline` (epoch ms) the rest are
 * closed too. Resolves how many moved idle and how many were cut with requests in flight.
 * `stopped()` true ends it early (a `close()` took over).
 */
export function moveConnections<C extends DrainingPeer>(
  connections: Iterable<C>,
  inFlight: (conn: C) => number,
  deadline: number,
  stopped: () => boolean,
): Promise<{ moved: number; cut: number }> {
  let moved = 0;
  let cut = 0;
  let busy: C[] = [];
  const sweep = (all: Iterable<C>, force: boolean): C[] => {
    const still: C[] = [];
    for (const conn of all) {
      if (!conn.open) continue;
      if (inFlight(conn) === 0) {
        moved++;
        conn.close(CloseCode.MOVED, DRAIN_REASON);
      } else if (force) {
        cut++;
        conn.close(CloseCode.MOVED, DRAIN_REASON);
      } else still.push(conn);
    }
    return still;
  };
  busy = sweep([...connections], Date.now() >= deadline);
  return new Promise((resolve) => {
    const tick = () => {
      if (busy.length > 0 && !stopped()) busy = sweep(busy, Date.now() >= deadline);
      if (busy.length === 0 || stopped()) return resolve({ moved, cut });
      // Polled, not signalled: nothing on the hot path pays for a drain that may never come.
      setTimeout(tick, Math.min(DRAIN_POLL_MS, Math.max(0, deadline - Date.now())));
    };
    tick();
  });
}
