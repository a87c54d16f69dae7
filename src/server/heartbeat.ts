/**
 * Liveness of connections (docs/server.md, "Heartbeat"): every `intervalMs` a connection that sent
 * nothing since the previous tick but the Pong to its last Ping is pinged; one that still sends
 * nothing (not even the pong) within `timeoutMs` is terminated. The heartbeat owns all of its state; a connection only counts what it
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
      const last = heard.get(conn) ?? 0;
      const ping = pinged.get(conn);
      // All it sent since the previous tick is the Pong to that tick's Ping: it is idle still, and
      // is pinged again now, as ws's own heartbeat does. Skipping it would space the Pings two
      // ticks apart, and a client that counts them as life would then ping for itself in between
      // (docs/protocol.md §3).
      const onlyPong = ping !== undefined && last === ping.received && received === ping.received + 1;
      // Answered (any traffic counts): it may be pinged again once it falls silent again.
      if (ping && ping.received !== received) pinged.delete(conn);
      if (last !== received) heard.set(conn, received);
      if ((last === received || onlyPong) && !pinged.has(conn)) {
        const mark = { received };
        pinged.set(conn, mark);
        conn.ping();
        const deadline = setTimeout(() => {
          deadlines.delete(deadline);
          // Answered: the next tick clears the mark, and reads it to tell a lone Pong from traffic.
          if (pinged.get(conn) !== mark || conn.received !== received) return;
          pinged.delete(conn);
          conn.terminate();
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
