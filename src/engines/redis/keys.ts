/**
 * Every Redis key and channel the engine uses, in one place (docs/scaling.md lists them).
 * `prefix` separates apps or environments sharing one Redis.
 */
export function redisKeys(prefix: string) {
  return {
    /** Pub/sub channel of a topic, and its prefix (to recognise ours among incoming messages). */
    channelPrefix: `${prefix}c:`,
    channel: (topic: string) => `${prefix}c:${topic}`,
    /** A topic's history: a stream with entry ids `0-<offset>`. */
    stream: (topic: string) => `${prefix}h:${topic}`,
    /** A topic's epoch and last offset: a hash. */
    meta: (topic: string) => `${prefix}m:${topic}`,
    /** Presence of a topic: connection → member id, member id → connections, member id → member. */
    presence: (topic: string) => [`${prefix}pc:${topic}`, `${prefix}pm:${topic}`, `${prefix}pi:${topic}`] as const,
    /** The presence entries a node added, for the cleanup after it died. */
    nodeEntries: (nodeId: string) => `${prefix}np:${nodeId}`,
    /** The node registry: a sorted set of node ids by heartbeat deadline. */
    nodes: `${prefix}nodes`,
    /** The channel every node listens on for server-control commands (not under `c:`, the topics' prefix). */
    control: `${prefix}ctl`,
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
