/**
 * The client's timer for its check of the server (docs/client.md, "Heartbeat"): one interval per
 * interval length, shared by every connection of the process that uses that length, so an idle
 * connection carries no timer of its own (docs/performance.md, "Idle connections"). What a beat
 * checks is the connection's business.
 */

/**
 * Beats per heartbeat interval. The client pings after {@link SILENT_BEATS} silent beats: silence
 * of 1¼ to 1½ intervals, so a server pinging every interval is always heard in time even when its
 * Ping comes a little late, and a dead server is found within 1½ intervals + the timeout
 * (docs/protocol.md §3).
 */
export const BEATS_PER_INTERVAL = 4;
/** Consecutive beats without a sign of the server after which the client pings. */
export const SILENT_BEATS = 5;

/** A connection the shared timer beats once per interval. */
export interface Beating {
  /** One interval passed: did the server show life since the previous beat? */
  beat(): void;
}

interface Group {
  readonly members: Set<Beating>;
  readonly timer: ReturnType<typeof setInterval>;
}

const groups = new Map<number, Group>();

/** Beats `member` {@link BEATS_PER_INTERVAL} times per `intervalMs` from now on, until {@link stopBeating}. */
export function startBeating(member: Beating, intervalMs: number): void {
  let group = groups.get(intervalMs);
  if (!group) {
    const members = new Set<Beating>();
    const timer = setInterval(() => {
      for (const m of members) m.beat();
    }, intervalMs / BEATS_PER_INTERVAL);
    // The sockets keep a Node process alive while they are open, not this timer.
    (timer as { unref?: () => void }).unref?.();
    groups.set(intervalMs, (group = { members, timer }));
  }
  group.members.add(member);
}

/** Stops beating `member`; the timer of its interval length goes with its last member. */
export function stopBeating(member: Beating, intervalMs: number): void {
  const group = groups.get(intervalMs);
  if (!group?.members.delete(member) || group.members.size > 0) return;
  clearInterval(group.timer);
  groups.delete(intervalMs);
}
