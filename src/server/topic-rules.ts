/**
 * Topic rules: which topics clients may subscribe to or publish on. Secure by default — a topic
 * that no rule matches refuses both. The first registered rule whose pattern matches decides.
 */
import type { StandardSchemaV1 } from '@standard-schema/spec';
import type { HistoryConfig } from './options.js';
import type { CommandContext } from './types.js';
import { optionKeys } from '../shared/options.js';

/** `true` allows everyone; a function decides per connection (and, for publish, per message). */
export type TopicPermission<Identity> =
  | boolean
  | ((ctx: CommandContext<Identity>, topic: string, data?: unknown) => boolean | Promise<boolean>);

export interface TopicRule<Identity = unknown> {
  /** Who may subscribe. @default false */
  subscribe?: TopicPermission<Identity>;
  /** Who may publish (the server itself always may). @default false */
  publish?: TopicPermission<Identity>;
  /** Track who is subscribed, per identity, and send `join`/`leave` to subscribers. @default false */
  presence?: boolean;
  /**
   * Standard Schema every client-published payload must pass (after `publish` allowed it);
   * `INVALID_INPUT` otherwise. Subscribers receive its output; its types type the topic on a
   * typed client (docs/server.md, "Typed topics"). @default none
   */
  schema?: StandardSchemaV1;
  /**
   * Drop messages for a subscriber whose send buffer is over `limits.sendBufferBytes` instead of
   * disconnecting it (dashboards, tickers: the next value replaces the lost one). @default false
   */
  volatile?: boolean;
  /**
   * Keep the topic's recent messages so that reconnecting subscribers recover what they missed
   * (docs/protocol.md §2.7); `false` turns off a server-wide `history` for this topic.
   * @default the server's `history` option
   */
  history?: HistoryConfig | false;
}

/** Every option of a {@link TopicRule}: a misspelt one (`subscibe`) is refused, not ignored. */
export const TOPIC_RULE_KEYS = optionKeys<TopicRule>({ subscribe: 1, publish: 1, presence: 1, schema: 1, volatile: 1, history: 1 });

interface CompiledRule<Identity> {
  pattern: string;
  re: RegExp;
  rule: TopicRule<Identity>;
}

const CACHE_LIMIT = 10_000;

/**
 * Compiles `room:*` to an anchored RegExp where `*` matches any run of characters. The type
 * `PatternTopics` (protocol/api.ts) mirrors this for typed clients — `*` as `${string}`, every
 * other character literal — so a change here must be made there too (docs/server.md, "Typed topics").
 */
export function compilePattern(pattern: string): RegExp {
  const body = pattern.split('*').map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*');
  return new RegExp(`^${body}$`, 's');
}

/** An ordered rule list with a bounded lookup cache (publishes look rules up on the hot path). */
export class TopicRules<Identity> {
  readonly #rules: CompiledRule<Identity>[] = [];
  readonly #cache = new Map<string, TopicRule<Identity> | null>();

  add(pattern: string, rule: TopicRule<Identity>): void {
    if (typeof pattern !== 'string' || pattern.length === 0) throw new TypeError('topic pattern must be a non-empty string');
    this.#rules.push({ pattern, re: compilePattern(pattern), rule });
    this.#cache.clear();
  }

  /** The rule that governs `topic` (the first added that matches, as the types assume), or `undefined` when none matches. */
  find(topic: string): TopicRule<Identity> | undefined {
    let hit = this.#cache.get(topic);
    if (hit === undefined) {
      hit = this.#rules.find((r) => r.re.test(topic))?.rule ?? null;
      if (this.#cache.size >= CACHE_LIMIT) this.#cache.clear();
      this.#cache.set(topic, hit);
    }
    return hit ?? undefined;
  }
}
