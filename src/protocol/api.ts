/**
 * The types that connect a server's registered API to a typed client: the command, stream, upload
 * and topic maps, the type-only marker a server carries, and how the client reads the maps from it
 * (`connect<typeof server>()`). Types only, with no Node or DOM imports, so the client's
 * declaration files can use them without reaching server code (docs/client.md, "Typed calls").
 */

/** The input and output types of every registered command, by name. */
export type CommandMap = Record<string, { input: unknown; output: unknown }>;

/** The input and item types of every registered stream, by name. */
export type StreamMap = Record<string, { input: unknown; item: unknown }>;

/** The input, item and output types of every registered upload, by name. */
export type UploadMap = Record<string, { input: unknown; item: unknown; output: unknown }>;

/**
 * One topic rule's types: its pattern (`*` matches any run of characters), what a client may
 * publish (`input`: the schema's input type) and what subscribers receive (`data`: the schema's
 * output, which the server fans out). Without a schema or a type argument both are `unknown`.
 */
export interface TopicEntry<Pattern extends string = string, Input = unknown, Data = unknown> {
  pattern: Pattern;
  input: Input;
  data: Data;
}

/**
 * The topic rules of a server, as a tuple in registration order: the first rule whose pattern
 * matches decides, in the types as at run time. A plain array (this type itself) is the loose map
 * of an untyped client: any topic, `unknown` data.
 */
export type TopicMap = readonly TopicEntry[];

/**
 * What a server's type-only `'~types'` marker holds: the identity type, the maps of what it
 * registered, and the type of its `presence.info`. Always `undefined` at run time; only
 * `connect<typeof server>()` reads it.
 */
export interface ApiTypes<
  Identity = unknown,
  Commands extends CommandMap = CommandMap,
  Streams extends StreamMap = StreamMap,
  Uploads extends UploadMap = UploadMap,
  Topics extends TopicMap = TopicMap,
  MemberInfo = unknown,
> {
  identity: Identity;
  commands: Commands;
  streams: Streams;
  uploads: Uploads;
  topics: Topics;
  memberInfo: MemberInfo;
}

/** The command map of a server type (`typeof server`) or a command map written by hand. */
export type CommandsOf<T> = T extends { readonly '~types'?: { commands: infer C } }
  ? '~types' extends keyof T
    ? C extends CommandMap
      ? C
      : CommandMap
    : T extends CommandMap
      ? T
      : CommandMap
  : T extends CommandMap
    ? T
    : CommandMap;

/** The stream map of a server type, or a loose map. */
export type StreamsOf<T> = T extends { readonly '~types'?: { streams: infer S } } ? ('~types' extends keyof T ? (S extends StreamMap ? S : StreamMap) : StreamMap) : StreamMap;

/** The upload map of a server type, or a loose map. */
export type UploadsOf<T> = T extends { readonly '~types'?: { uploads: infer U } } ? ('~types' extends keyof T ? (U extends UploadMap ? U : UploadMap) : UploadMap) : UploadMap;

/** The topic map of a server type, or the loose map (any topic, `unknown` data). */
export type TopicsOf<T> = T extends { readonly '~types'?: { topics: infer M } } ? ('~types' extends keyof T ? (M extends TopicMap ? M : TopicMap) : TopicMap) : TopicMap;

/** The type of a server's `presence.info` (the `info` of its members), or `unknown`. */
export type MemberInfoOf<T> = T extends { readonly '~types'?: { memberInfo: infer I } } ? ('~types' extends keyof T ? I : unknown) : unknown;

/**
 * The topics a pattern matches, as a template literal type: `'room:*'` → `` `room:${string}` ``.
 * Exact: `*` matches any run of characters (empty, or with `:` or `*` in it) as at run time
 * (server/topic-rules.ts), and `${string}` does too; every other character matches itself. A run
 * of stars is one star first: TypeScript never lets the first of two adjacent `${string}` match
 * nothing, while `**` at run time matches what `*` does.
 */
export type PatternTopics<P extends string> = P extends `${infer Head}**${infer Rest}`
  ? PatternTopics<`${Head}*${Rest}`>
  : P extends `${infer Head}*${infer Rest}`
    ? `${Head}${string}${PatternTopics<Rest>}`
    : P;

/** Whether a string type stands for more than a known, finite set of strings (`string`, `` `a${string}` ``). */
type IsWide<S extends string> = {} extends Record<S, 1> ? true : false;

/** The literal characters a string type starts with: `'cursor:'` for `` `cursor:${string}` ``. */
type LiteralPrefix<S extends string, Acc extends string = ''> = S extends `${infer C}${infer Rest}`
  ? string extends C
    ? Acc
    : `${number}` extends C
      ? Acc
      : LiteralPrefix<Rest, `${Acc}${C}`>
  : Acc;

/**
 * Whether a pattern's topics `P` may share a string with a topic type `T` that none of them
 * covers entirely. Exact when either is a literal; for two template types, false only when their
 * literal prefixes differ (neither starts with the other) — otherwise they are assumed to.
 */
type MayOverlap<T extends string, P extends string> = IsWide<T> extends false
  ? false
  : IsWide<P> extends false
    ? P extends T
      ? true
      : false
    : LiteralPrefix<T> extends `${LiteralPrefix<P>}${string}`
      ? true
      : LiteralPrefix<P> extends `${LiteralPrefix<T>}${string}`
        ? true
        : false;

/**
 * The entries that may govern topic `T` (one member of a union), walking the rules in order as
 * `TopicRules.find` does: a rule whose topics include all of `T` ends the walk (the run-time first
 * match); a rule that may match part of `T` (for a wide `T`), or one whose pattern is not a literal
 * type, adds its entry and the walk goes on. A literal topic gets exactly the first matching rule.
 */
type Governing<M extends TopicMap, T extends string, Found = never> = M extends readonly [infer E extends TopicEntry, ...infer Rest extends TopicMap]
  ? IsWide<E['pattern']> extends true
    ? Governing<Rest, T, Found | E>
    : T extends PatternTopics<E['pattern']>
      ? Found | E
      : MayOverlap<T, PatternTopics<E['pattern']>> extends true
        ? Governing<Rest, T, Found | E>
        : Governing<Rest, T, Found>
  : Found;

/** The entries governing each member of `T`. */
type EntriesOf<M extends TopicMap, T extends string> = T extends string ? Governing<M, T> : never;

/** Every topic some rule of `M` may match: the union of the patterns as template literal types. */
export type TopicName<M extends TopicMap> = M[number] extends infer E ? (E extends TopicEntry ? PatternTopics<E['pattern']> : never) : never;

/**
 * The parameter type of a topic: `T` itself when every member of it is matched by a rule, or is
 * not a literal type (a `string` is checked at run time); otherwise the topics the rules allow,
 * which makes the call a compile error that names them.
 */
export type TopicArg<M extends TopicMap, T extends string> = T extends string
  ? IsWide<T> extends true
    ? T
    : [Governing<M, T>] extends [never]
      ? TopicName<M>
      : T
  : never;

/**
 * What subscribers of topic `T` receive: the governing rule's `data`, a union where several may
 * govern (a topic typed `string` gets the union of every rule's data).
 */
export type TopicData<M extends TopicMap, T extends string> = EntriesOf<M, T>['data'];

/** What a client may publish on topic `T`: the governing rule's `input` (a union where several may govern). */
export type TopicInput<M extends TopicMap, T extends string> = EntriesOf<M, T>['input'];
