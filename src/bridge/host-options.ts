/**
 * Options of `createResourceHost`, their defaults, and the one place they are merged and checked.
 */
import { func, positiveInt, withDefaults } from '../shared/options.js';
import { CREDENTIAL_NAME } from './headers.js';
import { createUrlPolicy, type UrlPolicy } from './policy.js';
import { checkTargetOrigin } from './messages.js';

/**
 * The parts of a resource's manifest (the RightPlace SDK's `resource.json`) the host reads. Any other field
 * may be present and is ignored.
 */
export interface ResourceManifest {
  /** The resource's id, e.g. `com.example.realtime-dashboard`; sent to the egress relay for its logs and credential decisions. */
  id?: string;
  /** Declared capabilities; `network:ws` is required for every `ws.*` method. @default [] */
  capabilities?: readonly string[];
  readonly [field: string]: unknown;
}

/** Which URLs the resource may open (see `createUrlPolicy` for the pattern syntax). */
export interface HostPolicy {
  /** Allowed URL patterns, e.g. `['wss://*.example.com', 'ws://127.0.0.1:*']`. Nothing else is allowed. */
  allow: readonly string[];
}

/** Caps per resource. Each refusal reaches the guest as an error with a code. */
export interface HostLimits {
  /** Connections the resource may have opening or open at once; one more is refused with `LIMIT_EXCEEDED`. @default 8 */
  maxConnections: number;
  /**
   * Bytes the resource's connections may hold unsent, summed over their `bufferedAmount`. A
   * `ws.send` that would pass it is refused with `LIMIT_EXCEEDED` (the message is not sent).
   * @default 4194304 (4 MiB)
   */
  maxBufferedBytes: number;
  /**
   * Largest message in either direction. A larger `ws.send` is refused with `PAYLOAD_TOO_LARGE`;
   * a larger incoming message closes the connection (error `PAYLOAD_TOO_LARGE`, close 1009).
   * @default 1048576 (1 MiB)
   */
  maxMessageBytes: number;
}

/** Where connections that carry headers go (docs/bridge.md §7). */
export interface EgressTarget {
  /** The egress relay's WebSocket URL, e.g. `wss://app.example/bridge/egress`. */
  url: string;
  /**
   * Token for the relay's `authenticate`, sent as a `switchboard.auth.*` subprotocol entry (a
   * browser cannot set headers). A function is called for every connection.
   * @default none
   */
  token?: string | (() => string | Promise<string>);
}

/** A WHATWG `WebSocket` constructor (the page's own by default). */
export type BrowserWebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocket;

/** Options of `createResourceHost`. */
export interface ResourceHostOptions {
  /** The resource's iframe, ideally `sandbox="allow-scripts"` without `allow-same-origin`. Only its window is listened to. */
  iframe: HTMLIFrameElement;
  /** The resource's manifest. */
  manifest: ResourceManifest;
  /** The URL policy. Required: a host that allows nothing is useless, one that allows everything is unsafe. */
  policy: HostPolicy;
  /** The egress relay for connections with headers. @default none: `headers` are refused with `EGRESS_REQUIRED` */
  egress?: EgressTarget;
  /** Credential names the resource may reference (`rp.credentials.get`); the egress server holds the secrets. @default [] */
  credentials?: readonly string[];
  /** Caps; each field has its own default (see {@link HostLimits}). */
  limits?: Partial<HostLimits>;
  /**
   * `targetOrigin` of messages posted to the iframe. A sandboxed iframe's origin is opaque, and
   * `'*'` is the only value that reaches it; set the real origin for an iframe that is not sandboxed.
   * @default '*'
   */
  targetOrigin?: string;
  /** The WebSocket constructor. @default globalThis.WebSocket */
  WebSocket?: BrowserWebSocketConstructor;
}

/** The defaults, in one object. */
export const HOST_DEFAULTS = {
  limits: { maxConnections: 8, maxBufferedBytes: 4 * 1_048_576, maxMessageBytes: 1_048_576 },
  targetOrigin: '*',
} as const satisfies { limits: HostLimits; targetOrigin: string };

/** Options after defaults were applied. */
export interface ResolvedHostOptions {
  iframe: HTMLIFrameElement;
  resourceId: string | undefined;
  capabilities: readonly string[];
  policy: UrlPolicy;
  egress: EgressTarget | undefined;
  credentials: ReadonlySet<string>;
  limits: HostLimits;
  targetOrigin: string;
  WebSocket: BrowserWebSocketConstructor;
}

/** Merges options with {@link HOST_DEFAULTS}; impossible ones throw a `TypeError`. */
export function resolveHostOptions(o: ResourceHostOptions): ResolvedHostOptions {
  const iframe = o?.iframe as HTMLIFrameElement | undefined;
  if (!iframe || typeof iframe !== 'object' || !('contentWindow' in iframe) || !iframe.ownerDocument?.defaultView) {
    throw new TypeError('iframe must be an <iframe> element in a document');
  }
  if (typeof o.manifest !== 'object' || o.manifest === null) throw new TypeError('manifest must be an object');
  const caps = o.manifest.capabilities ?? [];
  if (!Array.isArray(caps) || caps.some((c) => typeof c !== 'string')) throw new TypeError('manifest.capabilities must be an array of strings');
  if (!o.policy || !Array.isArray(o.policy.allow)) throw new TypeError('policy.allow must be an array of URL patterns');
  if (o.egress !== undefined) {
    if (typeof o.egress.url !== 'string' || !/^wss?:\/\//.test(o.egress.url)) throw new TypeError('egress.url must be a ws:// or wss:// URL');
  }
  const credentials = o.credentials ?? [];
  for (const name of credentials) if (!CREDENTIAL_NAME.test(name)) throw new TypeError(`invalid credential name ${JSON.stringify(name)}`);
  if (credentials.length > 0 && !o.egress) throw new TypeError('credentials need an egress relay: the secrets live on its server');
  const limits = withDefaults<HostLimits>(HOST_DEFAULTS.limits, o.limits);
  const WS = o.WebSocket ?? (globalThis as { WebSocket?: BrowserWebSocketConstructor }).WebSocket;
  if (!WS) throw new TypeError('no WebSocket in this runtime: pass options.WebSocket');
  func('WebSocket', WS); // a constructor is a function
  const targetOrigin = checkTargetOrigin(o.targetOrigin ?? HOST_DEFAULTS.targetOrigin);
  return {
    iframe,
    resourceId: typeof o.manifest.id === 'string' ? o.manifest.id : undefined,
    capabilities: Object.freeze([...caps]),
    policy: createUrlPolicy(o.policy.allow),
    egress: o.egress ? { ...o.egress } : undefined,
    credentials: new Set(credentials),
    limits: {
      maxConnections: positiveInt('limits.maxConnections', limits.maxConnections),
      maxBufferedBytes: positiveInt('limits.maxBufferedBytes', limits.maxBufferedBytes),
      maxMessageBytes: positiveInt('limits.maxMessageBytes', limits.maxMessageBytes),
    },
    targetOrigin,
    WebSocket: WS,
  };
}
