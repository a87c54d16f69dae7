/**
 * Every NATS subject, stream and KV name the engine uses, in one place (docs/scaling.md, "NATS"
 * lists them). Topic names may hold any character, and subjects and KV keys allow few: each name
 * put in a subject or key is escaped by {@link token}.
 */

/**
 * A topic (or member, client, grant id) as one subject token and KV key token: letters, digits,
 * `-` and `_` stay, every other UTF-8 byte becomes `=XX` (hex), so `room:1` is `room=3A1`. The
 * mapping is one-to-one, and the result is never empty.
 */
export function token(name: string): string {
  if (name === '') return '=';
  let out = '';
  for (const byte of Buffer.from(name, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9_-]/.test(c) ? c : `=${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** The names of one prefix. */
export function natsNames(prefix: string) {
  return {
    /** Core NATS subject of a topic's fan-out (every event, with its position when it has one). */
    fanout: (topic: string) => `${prefix}.c.${token(topic)}`,
    /** The subject a topic's history stream captures (JetStream publishes go here). */
    history: (topic: string) => `${prefix}.h.${token(topic)}`,
    /** Every topic's history subject, for listing the streams. */
    historyAll: `${prefix}.h.>`,
    /** Name prefix of history streams: `<prefix>-h-<epoch>`; the epoch is the rest of the name. */
    streamPrefix: `${prefix}-h-`,
    /** The subject every node listens on for server-control commands. */
    control: `${prefix}.ctl`,
    /** A node's own subject: payloads other nodes relay to it (the SSE fallback's forwarded POSTs). */
    relay: (nodeId: string) => `${prefix}.n.${nodeId}`,
    /** KV bucket of presence, the node registry and grants (no TTL: entries live as long as their owner). */
    stateBucket: `${prefix}-state`,
    /** KV bucket of idempotent-call records (its TTL bounds every record). */
    callBucket: `${prefix}-calls`,
    /** KV key of a topic's presence document. */
    presence: (topic: string) => `p.${token(topic)}`,
    /** KV key of a node in the registry (its heartbeat and the topics where it has presence entries). */
    node: (nodeId: string) => `n.${nodeId}`,
    nodesAll: 'n.*',
    /** KV key of a grant (docs/protocol.md §2.9). */
    grant: (grant: string, topic: string) => `g.${token(grant)}.${token(topic)}`,
    /** KV keys of the grants bound to a member, per topic (for revocation), and their filter. */
    grantOfMember: (topic: string, member: string, grant: string) => `gm.${token(topic)}.${token(member)}.${token(grant)}`,
    grantsOfMember: (topic: string, member: string) => `gm.${token(topic)}.${token(member)}.*`,
    /** KV keys of the grants a connection holds, per topic (for revocation), and their filter. */
    grantOfClient: (topic: string, clientId: string, grant: string) => `gc.${token(topic)}.${token(clientId)}.${token(grant)}`,
    grantsOfClient: (topic: string, clientId: string) => `gc.${token(topic)}.${token(clientId)}.*`,
    /** KV key of an idempotent call's record. */
    call: (key: string) => `k.${token(key)}`,
  };
}

export type NatsNames = ReturnType<typeof natsNames>;
