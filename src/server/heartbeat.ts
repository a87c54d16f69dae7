/**
 * Liveness of connections (docs/server.md, "Heartbeat"): every `intervalMs` a connection that sent
 * nothing since the previous tick is pinged; one that still sends nothing (not even the pong) within
 * `timeoutMs` is terminated. The heartbeat owns all of its state; a connection only counts what it
 * receives.
 */
import type { HeartbeatOptions } from './options.js';

/** What the heartbeat reads and does on a connection. */
export interface Heartbeating {
  /** Messages and pongs received so far; any of them is a sign of life. */
  readonly received: number;
  ping(): void;
  terminate(): void;
}

/** Starts the heartbeat over a live collection of connections; returns its stop function. */
export function startHeartbeat(connections: Iterable<Heartbeating>, options: HeartbeatOptions): () => void {
  /** What each connection had received at the previous tick. */
  const heard = new WeakMap<Heartbeating, number>();
  /** Connections pinged and not heard from since: what they had received when pinged. */
  const pinged = new WeakMap<Heartbeating, { received: number }>();
  /**
   * The pending ping deadlines, kept here rather than on the connection: an idle connection then
   * carries no timer set of its own (docs/performance.md, memory per idle connection). One that
   * closes meanwhile is let go when its deadline passes.
   */
  const deadlines = new Set<ReturnType<typeof setTimeout>>();

  function tick(): void {
    for (const conn of connections) {
      const received = conn.received;
      // Answered (any traffic counts): it may be pinged again once it falls silent again.
      const ping = pinged.get(conn);
      if (ping && ping.received !== received) pinged.delete(conn);
      if (heard.get(conn) !== received) {
        heard.set(conn, received);
      } else if (!pinged.has(conn)) {
        const mark = { received };
        pinged.set(conn, mark);
        conn.ping();
        const deadline = setTimeout(() => {
          deadlines.delete(deadline);
          if (pinged.get(conn) !== mark) return; // answered, maybe pinged again since
          pinged.delete(conn);
          if (conn.received === received) conn.terminate();
        }, options.timeoutMs);
        deadline.unref?.();
        deadlines.add(deadline);
      }
    }
  }

  const timer = setInterval(tick, options.intervalMs);
  timer.unref();
  return () => {
    clearInterval(timer);
    for (const d of deadlines) clearTimeout(d);
    deadlines.clear();
  };
}
