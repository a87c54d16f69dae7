/**
 * Key placement for Redis Cluster, without a cluster (src/engines/redis/keys.ts, slot.ts): the slot
 * function agrees with Redis (`CLUSTER KEYSLOT`), every key and the channel of one topic share a
 * slot whatever the topic's characters, and a channel name gives its topic back.
 */
import { describe, expect, it } from 'vitest';
import { redisKeys, topicTag, untag } from '../src/engines/redis/keys.js';
import { keySlot } from '../src/engines/redis/slot.js';

describe('keySlot', () => {
  it('agrees with CLUSTER KEYSLOT of Redis 7', () => {
    // Values answered by redis-server 7.0.15's CLUSTER KEYSLOT.
    expect(keySlot('123456789')).toBe(12_739);
    expect(keySlot('{a}')).toBe(15_495);
    expect(keySlot('{b}')).toBe(3_300);
    expect(keySlot('x:{t1}')).toBe(8_943);
    expect(keySlot('{c}')).toBe(7_365);
    // Only the first tag counts; an empty one does not, and then the whole key is hashed.
    expect(keySlot('a{b}c{d}')).toBe(keySlot('b'));
    expect(keySlot('a{}b')).not.toBe(keySlot(''));
    expect(keySlot('a{}b')).toBe(keySlot(Buffer.from('a{}b')));
  });
});

describe('topic keys', () => {
  const keys = redisKeys('sb:');
  const all = (t: string) => [keys.stream(t), keys.meta(t), keys.channel(t), ...keys.presence(t)];

  it('puts every key and the channel of a topic in one slot, whatever its characters', () => {
    for (const t of ['room:1', '}starts-with-brace', 'a}b{c', '{x}', '%7D', 'ünïcødé 🎉', 'x'.repeat(256)]) {
      const slots = new Set(all(t).map(keySlot));
      expect(slots.size, t).toBe(1);
    }
    expect(keys.stream('room:1')).toBe('sb:h:{room:1}');
    expect(keys.channel('room:1')).toBe('sb:c:{room:1}');
  });

  it('never gives two topics the same key, and gives a channel its topic back', () => {
    const topics = ['a}', 'a%7D', 'a%', 'a%25', '}', '%', 'a'];
    expect(new Set(topics.map(keys.stream)).size).toBe(topics.length);
    for (const t of topics) {
      expect(untag(topicTag(t))).toBe(t);
      expect(keys.topicOf(keys.channel(t))).toBe(t);
    }
    expect(untag('no-braces')).toBeUndefined();
  });
});
