/**
 * A subscription that records what its handler and `gap` listener saw, for the history,
 * recovery and scale-out tests.
 */
import type { Client, DeliveryMeta, GapEvent } from '../src/client/node.js';

export function record(c: Client, topic: string, o?: Parameters<Client['subscribe']>[2]) {
  const got: { data: unknown; meta: DeliveryMeta }[] = [];
  const gaps: GapEvent[] = [];
  const sub = c.subscribe(topic, (data, meta) => got.push({ data, meta }), o);
  sub.on('gap', (g) => gaps.push(g));
  return {
    sub,
    got,
    gaps,
    data: () => got.map((g) => g.data),
    /** Offsets received, in order (every message on a topic with history has one). */
    offsets: () => got.map((g) => g.meta.offset!),
  };
}
