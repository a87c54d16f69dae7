/**
 * Whether Redis answers in time. A Redis that dies closes its connections, and ioredis fails
 * commands at once; a Redis that freezes (SIGSTOP, a partition without a reset, a swap storm)
 * keeps them open and answers nothing, so without a deadline every command would wait for the
 * whole freeze and then take effect late. Here each command gets a deadline, and a periodic PING
 * with the same deadline tells a frozen Redis from an idle one (docs/scaling.md, "When Redis
 * freezes").
 */
import type { Pingable } from './subscriber.js';

/** What {@link Liveness} needs from the engine. */
export interface LivenessDeps {
  /** The engine's connections (commands and pub/sub, which may change on a cluster): Redis is live when each answers. */
  clients(): readonly Pingable[];
  /** The deadline of every command and of the probe, in ms. */
  timeoutMs: number;
  /** Redis stopped answering within the deadline. */
  onStall(): void;
  /** Redis answered again after a stall: what was queued on the connections has run by now. */
  onAnswer(): void;
}

/** A command passed its deadline; it is still queued on the connection and may run later. */
export class DeadlinePassed extends Error {
  constructor(timeoutMs: number) {
    super(`redis did not answer within ${timeoutMs} ms`);
    this.name = 'DeadlinePassed';
  }
}

/** The command deadline and the probe of one engine. */
export class Liveness {
  readonly #d: LivenessDeps;
  #stalled = false;
  #probing = false;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(deps: LivenessDeps) {
    this.#d = deps;
  }

  /** Whether Redis failed to answer within the deadline and has not answered since. */
  get stalled(): boolean {
    return this.#stalled;
  }

  /** Probes every `timeoutMs`, so that a freeze is noticed within two deadlines even without traffic. */
  start(): void {
    this.#timer = setInterval(() => this.probe(), Math.max(100, this.#d.timeoutMs));
    this.#timer.unref?.();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
  }

  /**
   * Runs `op` with the deadline: rejects with {@link DeadlinePassed} when it has not settled by
   * then (the command itself cannot be taken back: it stays queued on its connection).
   */
  async within<T>(op: () => Promise<T>): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.#stall();
        // Its answer (after the late command's) will end the stall.
        this.probe();
        reject(new DeadlinePassed(this.#d.timeoutMs));
      }, this.#d.timeoutMs);
    });
    try {
      return await Promise.race([op(), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  #stall(): void {
    if (this.#stalled) return;
    this.#stalled = true;
    this.#d.onStall();
  }

  /** A connection was (re)established: nothing is queued on it, so it answers until shown otherwise. */
  connected(): void {
    if (this.#stalled && this.#d.clients().every((c) => c.status === 'ready')) this.#answered();
  }

  /**
   * Sends one PING on every connection (one probe at a time). Past the deadline Redis is stalled;
   * the probe keeps waiting, and its answer, which comes after everything queued before it, ends
   * the stall.
   */
  probe(): void {
    const { timeoutMs } = this.#d;
    const clients = this.#d.clients();
    if (this.#probing || !clients.every((c) => c.status === 'ready')) return;
    this.#probing = true;
    const timer = setTimeout(() => this.#stall(), timeoutMs);
    Promise.all(clients.map((c) => c.ping())).then(
      () => {
        clearTimeout(timer);
        this.#probing = false;
        if (this.#stalled) this.#answered();
      },
      () => {
        clearTimeout(timer);
        this.#probing = false;
        // A dropped link is reported by the connection's status; a client with its own
        // `commandTimeout` rejects a PING that Redis did not answer: that is a stall.
        // The next probe is the interval's, not an immediate one: no loop on a fast rejection.
        if (this.#d.clients().every((c) => c.status === 'ready')) this.#stall();
      },
    );
  }

  #answered(): void {
    this.#stalled = false;
    this.#d.onAnswer();
  }
}
