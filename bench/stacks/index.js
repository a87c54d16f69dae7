/**
 * The stacks under test. Each has a server module (run in its own process by bench/server.js) and
 * a client driver (run in the load process by bench/load.js) with one interface:
 *
 *   server: start({ host, ...options }) → { port, connections(), publish(topic, data), close() }
 *   client: open(baseUrl, options) → Promise<{ call, subscribe, publish, stream?, close }>
 *
 * Every server implements the same logic: an `echo` command, a `fan` topic that anyone may
 * subscribe and publish to, and (where streams exist) the `small`, `small-batched` and `chunks`
 * streams; `publish` is a publish by the server itself (the fan-out with one publish per
 * event-loop turn). To add a stack (e.g. Switchboard over the Redis engine), add a folder with
 * those two files and an entry here; a scenario that needs several server nodes says so with
 * `servers` (see bench/scenarios/index.js).
 */
export const STACKS = {
  'switchboard-json': { label: 'Switchboard JSON', server: 'switchboard', client: 'switchboard', options: { codec: 'json' } },
  'switchboard-msgpack': { label: 'Switchboard MsgPack', server: 'switchboard', client: 'switchboard', options: { codec: 'msgpack' } },
  ws: { label: 'raw ws', server: 'ws', client: 'ws', options: {} },
  socketio: { label: 'Socket.IO', server: 'socketio', client: 'socketio', options: {} },
};

/** The stacks Switchboard is compared with, in ratio columns. */
export const BASELINES = ['ws', 'socketio'];
/** The stacks whose figures are divided by the baselines'. */
export const SUBJECTS = ['switchboard-json', 'switchboard-msgpack'];
