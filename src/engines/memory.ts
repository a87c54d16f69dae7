/**
 * The embedded in-memory engine: one process, no external service. Delivery is synchronous, so
 * publish order is delivery order.
 */
import type { Member } from '../protocol/frames.js';
import type { Engine, EngineEvent, EngineNode, PresenceEntry } from './engine.js';

/** Creates the default engine: fan-out and presence for a single server process. */
export function createMemoryEngine(): Engine {
  let node: EngineNode | undefined;
  /** topic → member id → { member, connections } */
  const presence = new Map<string, Map<string, { member: Member; clients: Set<string> }>>();

  return {
    attach(n) {
      if (node) throw new Error('this memory engine is already attached to a server');
      node = n;
    },
    publish(topic: string, event: EngineEvent) {
      node?.deliver(topic, event);
    },
    subscribe() {},
    unsubscribe() {},
    presenceAdd({ topic, member, clientId }: PresenceEntry) {
      let members = presence.get(topic);
      if (!members) presence.set(topic, (members = new Map()));
      const found = members.get(member.id);
      if (found) {
        found.clients.add(clientId);
        return false;
      }
      members.set(member.id, { member, clients: new Set([clientId]) });
      return true;
    },
    presenceRemove({ topic, member, clientId }: PresenceEntry) {
      const members = presence.get(topic);
      const found = members?.get(member.id);
      if (!members || !found || !found.clients.delete(clientId)) return false;
      if (found.clients.size > 0) return false;
      members.delete(member.id);
      if (members.size === 0) presence.delete(topic);
      return true;
    },
    presenceList(topic: string) {
      return [...(presence.get(topic)?.values() ?? [])].map((m) => m.member);
    },
    close() {
      node = undefined;
      presence.clear();
    },
  };
}
