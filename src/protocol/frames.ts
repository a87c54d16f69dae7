/**
 * Frame shapes of wire protocol v1 (docs/protocol.md §2) and the validation of frames that
 * arrive from the untrusted side. Pure: no I/O.
 */
import { CloseCode } from './close-codes.js';
import { exceedsDepth, MAX_DEPTH } from './depth.js';
import { ErrorCode } from './error-codes.js';
import { errFrame } from './error-frame.js';

/** Protocol version carried by `welcome`. */
export const PROTOCOL_VERSION = 1;
/** Longest command name or topic, in UTF-16 code units. */
export const MAX_NAME_LENGTH = 256;
/** Longest token accepted in an `auth` frame, in UTF-16 code units. */
export const MAX_TOKEN_LENGTH = 16_384;

/** A presence member: one identity, however many connections it has. */
export interface Member<Info = unknown> {
  /** Stable id derived from the identity (see docs/protocol.md §2.4). */
  id: string;
  /** Public information the server chose to share (display name…): what its `presence.info` returns. */
  info?: Info;
}

/** Longest idempotency key of a `call`, in UTF-16 code units. */
export const MAX_KEY_LENGTH = 256;
/** Longest stream epoch, in UTF-16 code units. */
export const MAX_EPOCH_LENGTH = 64;
/** Largest `history` a `sub` may ask for. */
export const MAX_HISTORY = 2 ** 31 - 1;

/** Where a topic's stream stands: offsets grow by 1 per message within one epoch (docs/protocol.md §2.7). */
export interface StreamPosition {
  epoch: string;
  offset: number;
}

/** Why a subscription could not recover the messages it missed (docs/protocol.md §2.7). */
export type GapReason = 'epoch' | 'window' | 'no-history';

export interface CallFrame { t: 'call'; id: number; name: string; input?: unknown; /** idempotency key (§2.8) */ key?: string; /** W3C traceparent (§2.10) */ tc?: string }
export interface SubFrame { t: 'sub'; id: number; topic: string; since?: StreamPosition; history?: number; /** a server-side subscription's grant (§2.9) */ grant?: string }
export interface UnsubFrame { t: 'unsub'; id: number; topic: string }
export interface PubFrame { t: 'pub'; id: number; topic: string; data: unknown; echo?: boolean }
export interface PresenceFrame { t: 'presence'; id: number; topic: string }
export interface PingFrame { t: 'ping' }
/** First-message authentication (no id) or token refresh (with id); docs/protocol.md §1.3–1.4. */
export interface AuthFrame { t: 'auth'; id?: number; token: string }

/** Opens a server-to-client stream with an initial credit (docs/protocol.md §2.3). */
export interface StreamFrame { t: 'stream'; id: number; name: string; input?: unknown; credit: number; /** W3C traceparent (§2.10) */ tc?: string }
/** Opens a client-to-server stream. */
export interface UploadFrame { t: 'upload'; id: number; name: string; input?: unknown; /** W3C traceparent (§2.10) */ tc?: string }
/** Flow control: `n` more items may be sent on stream `id` (both directions). */
export interface CreditFrame { t: 'credit'; id: number; n: number }
/** The next items of stream `id`, in order (both directions). */
export interface ItemFrame { t: 'item'; id: number; items: unknown[] }
/** No more items on stream `id` (both directions). */
export interface EndFrame { t: 'end'; id: number }
/** Stops stream or upload `id`. */
export interface CancelFrame { t: 'cancel'; id: number }

/** Largest credit one `credit` frame may grant. */
export const MAX_CREDIT = 2 ** 31 - 1;

/** Any frame a client sends. */
export type ClientFrame =
  | CallFrame | SubFrame | UnsubFrame | PubFrame | PresenceFrame | PingFrame | AuthFrame
  | StreamFrame | UploadFrame | CreditFrame | ItemFrame | EndFrame | CancelFrame;

export interface WelcomeFrame {
  t: 'welcome';
  v: number;
  clientId: string;
  heartbeat: { intervalMs: number; timeoutMs: number };
  maxPayload: number;
}
export interface OkFrame { t: 'ok'; id: number; output?: unknown }
export interface ErrFrame { t: 'err'; id: number; code: string; message: string; details?: unknown }
/** Metadata delivered with every topic message. */
export interface MessageMeta {
  /** `clientId` of the publishing connection; absent when the server published. */
  from?: string;
  /** The topic's stream epoch (topics with history only). */
  epoch?: string;
  /** The message's offset in its epoch (topics with history only). */
  offset?: number;
}

/** The `output` of an `ok` answering `sub`. */
export interface SubOutput {
  members?: Member[];
  /** Where the messages after this answer continue from (topics with history). */
  position?: StreamPosition;
  /** Whether `since` could be honoured; present when the `sub` carried `since`. */
  recovered?: boolean;
  /** Why not, when `recovered` is false. */
  reason?: GapReason;
}
export interface MsgFrame { t: 'msg'; topic: string; data: unknown; meta?: MessageMeta }
export interface JoinFrame { t: 'join'; topic: string; member: Member }
export interface LeaveFrame { t: 'leave'; topic: string; member: Member }
export interface PongFrame { t: 'pong' }
/** The connection's token expired: answer with `auth` within `deadlineMs`. */
export interface RefreshFrame { t: 'refresh'; deadlineMs: number }
/** A targeted event from the application (docs/protocol.md §2.9). */
export interface EventFrame { t: 'event'; name: string; data?: unknown }
/** The server subscribed this connection to `topic` (§2.9); `grant` when it bypassed the rules. */
export interface SubscribedFrame { t: 'subscribed'; topic: string; output: SubOutput; grant?: string }
/** The server ended this connection's subscription to `topic` (§2.9). */
export interface UnsubscribedFrame { t: 'unsubscribed'; topic: string; code: string; message: string }

/** Any frame a server sends. */
export type ServerFrame =
  | WelcomeFrame | OkFrame | ErrFrame | MsgFrame | JoinFrame | LeaveFrame | PongFrame | RefreshFrame
  | ItemFrame | EndFrame | CreditFrame | EventFrame | SubscribedFrame | UnsubscribedFrame;

/**
 * What to do with a frame that failed validation: close the connection, answer the request with
 * `frame`, or — a `credit` or `item` frame with a usable id and a malformed body (a grant of 0,
 * items that are not a non-empty array or nest too deep) — end that id's live stream or upload with
 * `frame`, or answer with it when no stream is live under that id (docs/protocol.md §2.3).
 */
export type FrameFault =
  | { kind: 'close'; code: number; reason: string }
  | { kind: 'reply'; frame: ErrFrame }
  | { kind: 'flow'; frame: ErrFrame };

/** Result of {@link validateClientFrame}. */
export type Validated = { ok: true; frame: ClientFrame } | { ok: false; fault: FrameFault };

function isId(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Whether `v` is a grant a `credit` frame may carry: an integer from 1 to 2^31−1. */
export function isCredit(v: unknown): v is number {
  // Number.isSafeInteger is false for anything that is not a number.
  return Number.isSafeInteger(v) && (v as number) >= 1 && (v as number) <= MAX_CREDIT;
}

/** Whether `v` is a well-formed stream position. */
export function isPosition(v: unknown): v is StreamPosition {
  if (typeof v !== 'object' || v === null) return false;
  const { epoch, offset } = v as Record<string, unknown>;
  return (
    typeof epoch === 'string' && epoch.length > 0 && epoch.length <= MAX_EPOCH_LENGTH &&
    Number.isSafeInteger(offset) && (offset as number) >= 0
  );
}

/** Whether `v` is a valid command, stream or topic name (1 to 256 UTF-16 code units). */
export function isName(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= MAX_NAME_LENGTH;
}

/** Whether an optional `tc` (trace context, docs/protocol.md §2.10) is absent or a string of 1-256 characters. */
const tcOk = (tc: unknown): boolean => tc === undefined || (typeof tc === 'string' && tc.length > 0 && tc.length <= MAX_KEY_LENGTH);
const TC_MESSAGE = '"tc" must be a string of 1-256 characters';

const badRequestFrame = (id: number, message: string): ErrFrame => errFrame(id, ErrorCode.BAD_REQUEST, message);

function badRequest(id: number, message: string): Validated {
  return { ok: false, fault: { kind: 'reply', frame: badRequestFrame(id, message) } };
}

/** A malformed flow-control frame, for the stream table to decide (see {@link FrameFault}). */
function flowFault(id: number, message: string): Validated {
  return { ok: false, fault: { kind: 'flow', frame: badRequestFrame(id, message) } };
}

/** The message of a value past the depth limit (the wording of `tooDeep` in depth.ts). */
const tooDeepMessage = (what: string): string => `${what} is nested deeper than ${MAX_DEPTH} levels`;

const protocolError = (reason: string): Validated => ({
  ok: false,
  fault: { kind: 'close', code: CloseCode.PROTOCOL_ERROR, reason },
});

/**
 * Checks a decoded value against the client frame shapes. Frames whose `id` is usable get an
 * `err` reply; frames that cannot be correlated close the connection with 1002.
 */
export function validateClientFrame(value: unknown): Validated {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return protocolError('frame must be an object');
  }
  const f = value as Record<string, unknown>;
  const t = f.t;
  if (typeof t !== 'string') return protocolError('frame has no string "t"');
  if (t === 'ping') return { ok: true, frame: { t: 'ping' } };
  if (t === 'auth' && f.id === undefined) {
    if (typeof f.token !== 'string' || f.token.length === 0 || f.token.length > MAX_TOKEN_LENGTH) {
      return protocolError('"auth" needs a string "token"');
    }
    return { ok: true, frame: { t: 'auth', token: f.token } };
  }
  const id = f.id;
  if (!isId(id)) return protocolError(`"${t.slice(0, 16)}" frame needs an integer "id"`);
  switch (t) {
    case 'call':
      if (!isName(f.name)) return badRequest(id, '"name" must be a string of 1-256 characters');
      if (f.key !== undefined && !(typeof f.key === 'string' && f.key.length > 0 && f.key.length <= MAX_KEY_LENGTH)) {
        return badRequest(id, '"key" must be a string of 1-256 characters');
      }
      if (!tcOk(f.tc)) return badRequest(id, TC_MESSAGE);
      if (exceedsDepth(f.input)) return badRequest(id, tooDeepMessage('"input"'));
      return { ok: true, frame: value as CallFrame };
    case 'sub':
      if (!isName(f.topic)) return badRequest(id, '"topic" must be a string of 1-256 characters');
      if (f.since !== undefined && !isPosition(f.since)) {
        return badRequest(id, '"since" must be { epoch: string of 1-64 characters, offset: non-negative integer }');
      }
      if (f.history !== undefined && !(Number.isSafeInteger(f.history) && (f.history as number) >= 1 && (f.history as number) <= MAX_HISTORY)) {
        return badRequest(id, '"history" must be an integer from 1 to 2147483647');
      }
      if (f.grant !== undefined && !isName(f.grant)) return badRequest(id, '"grant" must be a string of 1-256 characters');
      return { ok: true, frame: value as SubFrame };
    case 'unsub':
    case 'presence':
      if (!isName(f.topic)) return badRequest(id, '"topic" must be a string of 1-256 characters');
      return { ok: true, frame: value as SubFrame | UnsubFrame | PresenceFrame };
    case 'auth':
      if (typeof f.token !== 'string' || f.token.length === 0 || f.token.length > MAX_TOKEN_LENGTH) {
        return badRequest(id, '"token" must be a string of 1-16384 characters');
      }
      return { ok: true, frame: { t: 'auth', id, token: f.token } };
    case 'stream':
      if (!isName(f.name)) return badRequest(id, '"name" must be a string of 1-256 characters');
      if (!isCredit(f.credit)) return badRequest(id, '"credit" must be an integer from 1 to 2147483647');
      if (!tcOk(f.tc)) return badRequest(id, TC_MESSAGE);
      if (exceedsDepth(f.input)) return badRequest(id, tooDeepMessage('"input"'));
      return { ok: true, frame: value as StreamFrame };
    case 'upload':
      if (!isName(f.name)) return badRequest(id, '"name" must be a string of 1-256 characters');
      if (!tcOk(f.tc)) return badRequest(id, TC_MESSAGE);
      if (exceedsDepth(f.input)) return badRequest(id, tooDeepMessage('"input"'));
      return { ok: true, frame: value as UploadFrame };
    case 'credit':
      if (!isCredit(f.n)) return flowFault(id, '"n" must be an integer from 1 to 2147483647');
      return { ok: true, frame: value as CreditFrame };
    case 'item':
      if (!Array.isArray(f.items) || f.items.length === 0) return flowFault(id, '"items" must be a non-empty array');
      // The array itself is one level: each item may nest MAX_DEPTH containers.
      if (exceedsDepth(f.items, MAX_DEPTH + 1)) return flowFault(id, tooDeepMessage('an item'));
      return { ok: true, frame: value as ItemFrame };
    case 'end':
    case 'cancel':
      return { ok: true, frame: { t, id } as EndFrame | CancelFrame };
    case 'pub':
      if (!isName(f.topic)) return badRequest(id, '"topic" must be a string of 1-256 characters');
      if (f.echo !== undefined && typeof f.echo !== 'boolean') return badRequest(id, '"echo" must be a boolean');
      if (exceedsDepth(f.data)) return badRequest(id, tooDeepMessage('"data"'));
      return { ok: true, frame: value as PubFrame };
    default:
      return {
        ok: false,
        fault: {
          kind: 'reply',
          frame: errFrame(id, ErrorCode.UNKNOWN_FRAME, 'Unknown frame kind'),
        },
      };
  }
}

/**
 * Checks a decoded value from the server. The client trusts its server more than the server trusts
 * its clients, but still never lets a malformed frame throw inside its event loop.
 */
export function isServerFrame(value: unknown): value is ServerFrame {
  return typeof value === 'object' && value !== null && typeof (value as { t?: unknown }).t === 'string';
}
