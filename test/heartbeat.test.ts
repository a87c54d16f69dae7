/**
 * The heartbeat (src/server/heartbeat.ts) and the backpressure count (src/server/backpressure.ts)
 * alone, on stand-in connections; the live behaviour is in server-protocol.test.ts (a peer that never
 * answers pings is terminated) and backpressure.test.ts.
 */
import { describe, expect, it, vi } from 'vitest';
import { Backpressure } from '../src/server/backpressure.js';
import { startHeartbeat, type Heartbeating } from '../src/server/heartbeat.js';
import { until } from './helpers.js';

/** A stand-in connection: counts pings, records termination, answers pings when `answers`. */
function fake(answers: boolean) {
  const conn = {
    received: 0,
    pings: 0,
    terminated: false,
    ping() {
      conn.pings++;
      if (answers) setTimeout(() => conn.received++, 1);
    },
    terminate() {
      conn.terminated = true;
    },
  };
  return conn satisfies Heartbeating;
}

describe('startHeartbeat', () => {
  it('pings a connection silent for a whole tick, terminates it when it stays silent, keeps one that answers', async () => {
    const silent = fake(false);
    const answering = fake(true);
    const chatty = fake(false);
    const talk = setInterval(() => chatty.received++, 5);
    const stop = startHeartbeat([silent, answering, chatty], { intervalMs: 20, timeoutMs: 30 });
    try {
      await until(() => silent.terminated, 'the silent connection to be terminated', 2_000);
      // Pinged once: no second ping while the first is pending.
      expect(silent.pings).toBe(1);
      await until(() => answering.pings >= 3, 'the answering connection to be pinged again after each quiet tick', 2_000);
      expect(answering.terminated).toBe(false);
      // Traffic in every tick: never pinged.
      expect(chatty.pings).toBe(0);
      expect(chatty.terminated).toBe(false);
    } finally {
      stop();
      clearInterval(talk);
    }
  });
});

describe('startHeartbeat on idle connections', () => {
  it('pings a connection whose only traffic is the Pong to the previous Ping on every tick, as ws does', () => {
    vi.useFakeTimers();
    try {
      const idle = fake(true);
      const chatty = fake(false);
      const stop = startHeartbeat([idle, chatty], { intervalMs: 100, timeoutMs: 100 });
      for (let tick = 1; tick <= 6; tick++) {
        chatty.received++;
        vi.advanceTimersByTime(100);
        // One Ping per tick: a Pong alone is not traffic that spares the next Ping, or the Pings
        // would come every other tick and a client counting them as life would ping in between.
        expect(idle.pings).toBe(tick);
      }
      expect(idle.terminated).toBe(false);
      expect(chatty.pings).toBe(0);
      stop();
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('Backpressure', () => {
  it('drained() resolves at once without connections over the bound, else when the last one leaves', async () => {
    const p = new Backpressure();
    await p.drained();
    const a = {};
    const b = {};
    p.add(a);
    p.add(b);
    p.add(a);
    expect(p.size).toBe(2);
    let done = false;
    const waiting = p.drained().then(() => (done = true));
    p.delete(a);
    p.delete(a);
    await Promise.resolve();
    expect(done).toBe(false);
    p.delete(b);
    await waiting;
    expect(p.size).toBe(0);
  });
});
