/**
 * `<SwitchboardProvider>`: owns one client for the components below it — created from its props
 * in an effect (so never on the server, and never twice for StrictMode's double mount) and closed
 * when it unmounts — or hands down a client the app created (`client` prop), which it never closes.
 */
import { createElement, useEffect, useLayoutEffect, useRef, useState, type ReactElement, type ReactNode } from 'react';
import { connect } from '../client/index.js';
import type { ClientOptions, UrlProvider } from '../client/options.js';
import type { Client } from '../client/types.js';
import { ClientHolder, SwitchboardContext } from './context.js';
import { connectionStore, dropConnectionStore } from './connection-state.js';

/** Props of {@link SwitchboardProvider}: a `url` (and `options`) to connect to, or a `client`. */
export type SwitchboardProviderProps = {
  children?: ReactNode;
  /**
   * Receives every error the client reports on its `error` event (failed attempts, a throwing
   * handler, a refused subscription nobody listens to). @default console.error
   */
  onError?: (err: Error) => void;
} & (
  | {
      /** Where to connect (`connect`'s first argument). Read when the provider mounts; give the provider a new `key` to connect elsewhere. */
      url: UrlProvider;
      /** `connect`'s options. Read when the provider mounts, like `url`. @default {} */
      options?: ClientOptions;
      client?: undefined;
    }
  | {
      /** A client the app created (and closes): the provider hands it down and never closes it. */
      client: Client;
      url?: undefined;
      options?: undefined;
    }
);

/** Layout effects run before the children's effects, so a child's mount effect finds the client; none on the server. */
const useClientEffect = typeof document === 'undefined' ? useEffect : useLayoutEffect;

/**
 * Provides a Switchboard client to the hooks of the components below it.
 *
 * @example
 * <SwitchboardProvider url="wss://example.com/ws" options={{ token: getToken }}>
 *   <App />
 * </SwitchboardProvider>
 */
export function SwitchboardProvider(props: SwitchboardProviderProps): ReactElement {
  const { client: given, url, options, onError } = props;
  if (given === undefined && url === undefined) {
    throw new TypeError('<SwitchboardProvider> needs a url (url="wss://…/ws") or a client (client={connect(…)}) (docs/react.md)');
  }
  if (given !== undefined && url !== undefined) {
    throw new TypeError('<SwitchboardProvider> takes a url or a client, not both: with client={…} the client already knows its URL');
  }
  const [holder] = useState(() => new ClientHolder(given, onError));
  holder.onError = onError;
  /** The client this provider created, and its pending close (StrictMode takes it back before it runs). */
  const owned = useRef<{ client: Client; url: UrlProvider; closeTimer: ReturnType<typeof setTimeout> | undefined } | null>(null);

  useClientEffect(() => {
    if (given) {
      holder.set(given);
      return;
    }
    let own = owned.current;
    if (own) {
      clearTimeout(own.closeTimer);
      own.closeTimer = undefined;
    } else {
      own = owned.current = { client: connect(url as UrlProvider, options), url: url as UrlProvider, closeTimer: undefined };
      // Listening from the first attempt: useConnectionState reports its errors too.
      connectionStore(own.client, () => holder.onError);
    }
    holder.set(own.client);
    const mine = own;
    return () => {
      // A macrotask later: StrictMode's second mount takes the client back before it runs.
      mine.closeTimer = setTimeout(() => {
        if (owned.current === mine) owned.current = null;
        mine.client.close();
        dropConnectionStore(mine.client);
      }, 0);
    };
    // url and options are read at mount (documented): an inline options object is new every render.
  }, [given, holder]);

  const mountedUrl = owned.current?.url;
  useEffect(() => {
    if (typeof url === 'string' && typeof mountedUrl === 'string' && url !== mountedUrl) {
      console.warn(`[switchboard] <SwitchboardProvider url> changed from ${mountedUrl} to ${url}; the client keeps the URL it was created with. Give the provider key={url} to reconnect (docs/react.md).`);
    }
  }, [url, mountedUrl]);

  return createElement(SwitchboardContext.Provider, { value: holder }, props.children);
}
