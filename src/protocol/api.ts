/**
 * The types that connect a server's registered API to a typed client: the command, stream and
 * upload maps, the type-only marker a server carries, and how the client reads the maps from it
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
 * What a server's type-only `'~types'` marker holds: the identity type and the three maps of what
 * it registered. Always `undefined` at run time; only `connect<typeof server>()` reads it.
 */
export interface ApiTypes<Identity = unknown, Commands extends CommandMap = CommandMap, Streams extends StreamMap = StreamMap, Uploads extends UploadMap = UploadMap> {
  identity: Identity;
  commands: Commands;
  streams: Streams;
  uploads: Uploads;
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
