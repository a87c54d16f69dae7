/**
 * Every Redis key and channel the engine uses, in one place (docs/scaling.md lists them).
 * `prefix` separates apps or environments sharing one Redis.
 *
 * Placement for Redis Cluster (docs/scaling.md, "Redis Cluster"): every key and the channel of one
 * topic carry the same hash tag, `{<topic>}`, so they live on one shard and the publish script
 * (stream, meta and channel) stays one atomic step there. Keys that are not a topic's (the node
 * registry, a node's entry set, call records, grants, the control channel) are each touched alone
 * by every command, so they may sit on any shard.
 */
export function redisKeys(prefix: string) {
  return {
    /** Pub/sub channel of a topic, and its prefix (to recognise ours among incoming messages). */
    channelPrefix: `${prefix}c:`,
    channel: (topic: string) => `${prefix}c:${topicTag(topic)}`,
    /** The topic of a channel name that starts with `channelPrefix`; `undefined` when it is not one of ours. */
    topicOf: (channel: string) => untag(channel.slice(prefix.length + 2)),
    /** A topic's history: a stream with entry ids `0-<offset>`. */
    stream: (topic: string) => `${prefix}h:${topicTag(topic)}`,
    /** A topic's epoch and last offset: a hash. */
    meta: (topic: string) => `${prefix}m:${topicTag(topic)}`,
    /** Presence of a topic: connection → member id, member id → connections, member id → member. */
    presence: (topic: string) => {
      const t = topicTag(topic);
      return [`${prefix}pc:${t}`, `${prefix}pm:${t}`, `${prefix}pi:${t}`] as const;
    },
    /** The presence entries a node added, for the cleanup after it died. */
    nodeEntries: (nodeId: string) => `${prefix}np:${nodeId}`,
    /** The node registry: a sorted set of node ids by heartbeat deadline. */
    nodes: `${prefix}nodes`,
    /** The channel every node listens on for server-control commands (not under `c:`, the topics' prefix). */
    control: `${prefix}ctl`,
    /** A node's own channel: payloads other nodes relay to it (the SSE fallback's forwarded POSTs). */
    node: (nodeId: string) => `${prefix}n:${nodeId}`,
    /** The grants of one grant id: a hash, topic → bound member id (docs/protocol.md §2.9). */
    grant: (grant: string) => `${prefix}g:${grant}`,
    /** The grants bound to one member for one topic: a set of grant ids (the topic's length first keeps the key unambiguous). */
    grantsOfMember: (topic: string, member: string) => `${prefix}gm:${topic.length}:${topic}${member}`,
    /** The grants one connection holds for one topic: a set of grant ids. */
    grantsOfClient: (topic: string, clientId: string) => `${prefix}gc:${topic.length}:${topic}${clientId}`,
    /** An idempotent call's record. */
    call: (key: string) => `${prefix}k:${key}`,
  };
}

export type RedisKeys = ReturnType<typeof redisKeys>;

/**
 * A topic as a hash tag: `{<topic>}` with `%` and `}` escaped (`%25`, `%7D`), so the tag ends where
 * the topic does, is never empty, and two topics never share a key.
 */
export function topicTag(topic: string): string {
  return `{${topic.replace(/[%}]/g, (c) => (c === '%' ? '%25' : '%7D'))}}`;
}

/** The topic of a tag made by {@link topicTag}; `undefined` for anything else. */
export function untag(tag: string): string | undefined {
  if (tag.length < 3 || tag[0] !== '{' || tag[tag.length - 1] !== '}') return undefined;
  return tag.slice(1, -1).replace(/%(25|7D)/g, (_, h: string) => (h === '25' ? '%' : '}'));
}

/**
 * Checks that `prefix` keeps every topic's keys on one shard: a `{` or `}` in it would make the
 * prefix's braces the hash tag, splitting a topic's keys (or putting every key on one shard).
 */
export function checkClusterPrefix(prefix: string): void {
  if (/[{}]/.test(prefix)) {
    throw new TypeError(`prefix must not contain "{" or "}" on a Redis Cluster (got ${JSON.stringify(prefix)}): the engine puts each topic's hash tag in its keys itself (docs/scaling.md, "Redis Cluster")`);
  }
}
