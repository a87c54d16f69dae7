/**
 * The client a `<SwitchboardProvider>` hands down, as a small store: the provider creates its client
 * in an effect (never while rendering, never on the server), so the hooks below it read it through
 * `useSyncExternalStore` and re-render when it appears. `useClient` reads it.
 */
import { createContext, useContext, useSyncExternalStore } from 'react';
import type { Client } from '../client/types.js';
import * as ErrorCode from '../protocol/error-code-values.js';
import { SwitchboardError } from '../protocol/errors.js';
import { ExternalStore } from './external-store.js';

/** The provider's client, readable by hooks and by code that runs outside rendering (calls). */
export class ClientHolder extends ExternalStore {
  #client: Client | undefined;
  #waiters: ((c: Client) => void)[] = [];

  constructor(
    /** The client given to the provider (`client` prop), which server rendering sees too. */
    readonly initial: Client | undefined,
    /** The provider's `onError`, for the client errors the bindings listen to. */
    public onError: ((err: Error) => void) | undefined,
  ) {
    super();
    this.#client = initial;
  }

  /** The client now; `undefined` on the server and before the provider's effect ran. */
  readonly get = (): Client | undefined => this.#client;

  /** What server rendering and hydration see. */
  readonly getInitial = (): Client | undefined => this.initial;

  set(client: Client | undefined): void {
    if (client === this.#client) return;
    this.#client = client;
    if (client) for (const w of this.#waiters.splice(0)) w(client);
    this.notify();
  }

  /**
   * The client, once there is one. A call made in a child's mount effect runs before the
   * provider's effect created the client; it waits for it instead of failing.
   */
  whenReady(signal?: AbortSignal): Promise<Client> {
    const now = this.#client;
    if (now) return Promise.resolve(now);
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(new SwitchboardError(ErrorCode.ABORTED, 'Aborted before the client was created'));
      const onAbort = () => {
        this.#waiters = this.#waiters.filter((w) => w !== done);
        reject(new SwitchboardError(ErrorCode.ABORTED, 'Aborted before the client was created'));
      };
      const done = (c: Client) => {
        signal?.removeEventListener('abort', onAbort);
        resolve(c);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(done);
    });
  }
}

/** The code of the error a hook throws outside any `<SwitchboardProvider>` (docs/react.md). */
export const NO_PROVIDER = 'NO_PROVIDER';

/** The context between the provider and the hooks. */
export const SwitchboardContext = Object.assign(createContext<ClientHolder | null>(null), { displayName: 'SwitchboardContext' });

/** The nearest provider's holder; throws the misuse's explanation outside any provider. */
export function useHolder(hook: string): ClientHolder {
  const holder = useContext(SwitchboardContext);
  if (!holder) {
    throw new SwitchboardError(
      NO_PROVIDER,
      `${hook}() was called outside <SwitchboardProvider>: wrap your app (or this component) in <SwitchboardProvider url="wss://…/ws"> (docs/react.md)`,
    );
  }
  return holder;
}

/**
 * The provider's client: `undefined` while rendering on the server and in the first render in the
 * browser, before the provider's effect created it (the component renders again when it exists).
 * Outside a `<SwitchboardProvider>` it throws.
 *
 * @example
 * const client = useClient();
 * const send = (text: string) => client?.publish('room:lobby', { text });
 */
export function useClient(): Client | undefined {
  return useProviderClient('useClient').client;
}

/** The nearest provider's holder and its client now (re-rendering when the client appears). */
export function useProviderClient(hook: string): { holder: ClientHolder; client: Client | undefined } {
  const holder = useHolder(hook);
  const client = useSyncExternalStore(holder.subscribe, holder.get, holder.getInitial);
  return { holder, client };
}
