/**
 * The egress relay's wire format (docs/bridge.md §7.2), shared by the host (browser) and the relay
 * (Node). One relay WebSocket carries one upstream connection:
 *
 * 1. the host opens the relay with subprotocol `switchboard.egress.v1` (plus, optionally, a
 *    `switchboard.auth.<base64url>` token entry);
 * 2. its first message is one text message, the JSON {@link EgressConnect};
 * 3. the relay answers one text message, the JSON {@link EgressReply}: `open` once the upstream
 *    opened, or `error` (then it closes the relay with 1008);
 * 4. after `open`, every message is relayed verbatim both ways (text as text, binary as binary) and
 *    a close on one side closes the other with the same code and reason.
 */

/** The relay's subprotocol. */
export const EGRESS_SUBPROTOCOL = 'switchboard.egress.v1';

/** First message, host → relay. */
export interface EgressConnect {
  type: 'connect';
  /** The upstream URL; the relay checks it against its own allowlist. */
  url: string;
  /** Upgrade headers; credential references in values are replaced by the relay. */
  headers: Record<string, string>;
  /** Subprotocols offered to the upstream. */
  protocols: string[];
  /** The resource's manifest id, when it has one (for the relay's logs and credential decisions). */
  resource?: string;
}

/** First message, relay → host. */
export type EgressReply = { type: 'open'; protocol: string } | { type: 'error'; code: string; message: string };

/** Reads the relay's first message; `undefined` when it is not a valid {@link EgressReply}. */
export function parseEgressReply(text: unknown): EgressReply | undefined {
  if (typeof text !== 'string' || text.length > 4_096) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const r = v as Record<string, unknown>;
  if (r.type === 'open' && typeof r.protocol === 'string') return { type: 'open', protocol: r.protocol };
  if (r.type === 'error' && typeof r.code === 'string' && typeof r.message === 'string') return { type: 'error', code: r.code, message: r.message };
  return undefined;
}
