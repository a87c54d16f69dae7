/**
 * `useConnectionState`: the client's state and the last thing that went wrong, for a
 * "reconnecting…" banner. One store per client, listening to its `open`, `close`, `reconnecting`
 * and `error` events from the moment it is made (the provider makes it with its client, so the
 * errors of the first attempts are not missed); read tear-free through `useSyncExternalStore`.
 */
import { useSyncExternalStore } from 'react';
import type { Client, ClientEvents, ClientState } from '../client/types.js';
import type { SwitchboardError } from '../protocol/errors.js';
import { useProviderClient } from './context.js';
import { ExternalStore } from './external-store.js';

/** What `useConnectionState` returns. A new object whenever something in it changed. */
export interface ConnectionSnapshot {
  /** `connecting` (first attempt, and while there is no client yet: server rendering, first render), `open`, `reconnecting`, `closed` (final). */
  readonly state: ClientState;
  /** The connection's id on the server while open (`undefined` before the first open). */
  readonly clientId: string | undefined;
  /** The reconnect attempt under way or scheduled, counting from 1; `0` while open or before any drop. */
  readonly attempt: number;
  /** When the scheduled reconnect attempt starts (`Date.now()` time), while `reconnecting`. */
  readonly nextAttemptAt: number | undefined;
  /** The last error the client reported (a failed attempt, the client giving up, …); cleared on open. */
  readonly error: SwitchboardError | Error | undefined;
  /** The last `close` event: its code, reason and whether the client reconnects. */
  readonly lastClose: ClientEvents['close'] | undefined;
}

/** The snapshot without a client: on the server, and before the provider's effect. */
export const NO_CLIENT_SNAPSHOT: ConnectionSnapshot = Object.freeze({
  state: 'connecting',
  clientId: undefined,
  attempt: 0,
  nextAttemptAt: undefined,
  error: undefined,
  lastClose: undefined,
});

/** One client's connection store. */
export class ConnectionStore extends ExternalStore {
  snapshot: ConnectionSnapshot;
  readonly #offs: (() => void)[];

  /** `onError` receives the client's errors; `console.error` (the client's own fallback) without it. */
  constructor(client: Client, onError: () => ((err: Error) => void) | undefined) {
    super();
    this.snapshot = { ...NO_CLIENT_SNAPSHOT, state: client.state, clientId: client.clientId };
    const update = (patch: Partial<ConnectionSnapshot>) => {
      this.snapshot = { ...this.snapshot, state: client.state, clientId: client.clientId, ...patch };
      this.notify();
    };
    this.#offs = [
      client.on('open', () => update({ attempt: 0, nextAttemptAt: undefined, error: undefined })),
      client.on('close', (c) => update({ lastClose: c })),
      client.on('reconnecting', ({ attempt, delayMs }) => update({ attempt, nextAttemptAt: Date.now() + delayMs })),
      client.on('error', (err) => {
        // Listening to `error` turns off the client's console.error fallback: keep it, unless the
        // app took errors over with the provider's `onError`.
        const handler = onError();
        if (handler) handler(err);
        else console.error('[switchboard] client error:', err);
        update({ error: err });
      }),
    ];
  }

  readonly getSnapshot = (): ConnectionSnapshot => this.snapshot;

  /** Stops listening to the client. */
  dispose(): void {
    for (const off of this.#offs.splice(0)) off();
  }
}

const stores = new WeakMap<Client, ConnectionStore>();

/** The connection store of `client`, made on first use. */
export function connectionStore(client: Client, onError: () => ((err: Error) => void) | undefined): ConnectionStore {
  let store = stores.get(client);
  if (!store) stores.set(client, (store = new ConnectionStore(client, onError)));
  return store;
}

/** Forgets the store of a client the provider closed. */
export function dropConnectionStore(client: Client): void {
  stores.get(client)?.dispose();
  stores.delete(client);
}

const noSubscribe = () => () => {};
const noClient = () => NO_CLIENT_SNAPSHOT;

/**
 * The client's connection state, tear-free in concurrent rendering: re-renders on open, close,
 * reconnect attempts and errors.
 *
 * @example
 * const { state, attempt, error } = useConnectionState();
 * if (state === 'reconnecting') return <Banner>Reconnecting… (attempt {attempt}{error ? `: ${error.message}` : ''})</Banner>;
 */
export function useConnectionState(): ConnectionSnapshot {
  const { holder, client } = useProviderClient('useConnectionState');
  const store = client ? connectionStore(client, () => holder.onError) : undefined;
  return useSyncExternalStore(store?.subscribe ?? noSubscribe, store?.getSnapshot ?? noClient, noClient);
}
