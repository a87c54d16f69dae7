/**
 * `connectWithRetry`: the RightPlace SDK's "reconnect on disconnect" example made safe to copy — full jitter
 * (so many resources that lost one upstream do not return in one wave), a delay cap, an attempt
 * cap that resets on every successful open, and no retry after a refusal that cannot change
 * (`CAPABILITY_DENIED`, `URL_NOT_ALLOWED`…) or after `close()`.
 */
import { backoffDelay } from '../client/backoff.js';
import { CloseCode } from '../protocol/close-codes.js';
import { Emitter } from '../shared/emitter.js';
import { func, nonNegativeInt, nonNegativeMs, withDefaults } from '../shared/options.js';
import { BridgeError, BridgeErrorCode, FINAL_CODES } from './errors.js';
import type { ConnectOptions, ResourceClient } from './guest.js';
import type { WsConnection } from './guest-connection.js';
import type { BridgeData } from './messages.js';

/** Options of {@link connectWithRetry}. */
export interface RetryOptions extends ConnectOptions {
  /** Reconnects after a close, counted since the last successful open. @default 5 */
  maxRetries?: number;
  /** Upper bound of the first delay, in ms; it doubles per attempt. @default 1000 */
  initialDelayMs?: number;
  /** Cap of the delay, in ms. @default 30000 */
  maxDelayMs?: number;
  /**
   * Whether to reconnect after this close (partysocket's `shouldReconnectOnClose`). It is not asked
   * after `close()`, once `maxRetries` are used up, or after a refusal in {@link FINAL_CODES}.
   * @default always
   */
  shouldRetry?: (code: number, reason: string, error: BridgeError | undefined) => boolean;
  /** Random source in [0, 1), for tests. @default Math.random */
  random?: () => number;
}

type RetrySchedule = Required<Pick<RetryOptions, 'maxRetries' | 'initialDelayMs' | 'maxDelayMs'>>;

/** The defaults, in one object. */
export const RETRY_DEFAULTS = { maxRetries: 5, initialDelayMs: 1_000, maxDelayMs: 30_000 } as const satisfies RetrySchedule;

/** Events of a {@link RetryingConnection}: those of every attempt, plus `retry` and `end`. */
export interface RetryingConnectionEvents {
  open: () => void;
  message: (data: string | ArrayBuffer) => void;
  /** One attempt closed (a retry may follow). */
  close: (code: number, reason: string) => void;
  error: (message: string, error: BridgeError) => void;
  /** Attempt `attempt` (1-based) starts in `delayMs`. */
  retry: (attempt: number, delayMs: number) => void;
  /** No more attempts: after `close()`, a final refusal, `shouldRetry` saying no, or `maxRetries`. */
  end: (code: number, reason: string) => void;
}

/** A connection that comes back by itself. */
export interface RetryingConnection {
  /** The current attempt's connection (`undefined` while waiting for the next one). */
  readonly current: WsConnection | undefined;
  /** Whether the retries are over (see the `end` event). */
  readonly ended: boolean;
  on<K extends keyof RetryingConnectionEvents>(event: K, listener: RetryingConnectionEvents[K]): () => void;
  /** Sends on the current connection; when there is none open, an `error` event says `NOT_CONNECTED`. */
  send(data: BridgeData): void;
  /** Closes the current connection and stops retrying. */
  close(code?: number, reason?: string): void;
}

/**
 * The delay before retry `attempt` (1-based): uniform in [0, min(maxDelayMs, initialDelayMs·2^(attempt−1))).
 * Pure.
 */
export function retryDelay(attempt: number, initialDelayMs: number, maxDelayMs: number, random: () => number = Math.random): number {
  return backoffDelay(Math.max(0, attempt - 1), initialDelayMs, maxDelayMs, random);
}

/**
 * Connects through the bridge and reconnects after each close, with jittered exponential backoff.
 *
 * @example
 * const feed = connectWithRetry(rp, 'wss://stream.example.com/ws', { maxRetries: 5 });
 * feed.on('message', (data) => handleMessage(JSON.parse(data as string)));
 * feed.on('end', () => showNotification('Price feed disconnected'));
 */
export function connectWithRetry(rp: Pick<ResourceClient, 'ws'>, url: string, options: RetryOptions = {}): RetryingConnection {
  const { headers, protocols } = options;
  const o = withDefaults<RetrySchedule>(RETRY_DEFAULTS, { maxRetries: options.maxRetries, initialDelayMs: options.initialDelayMs, maxDelayMs: options.maxDelayMs });
  const maxRetries = nonNegativeInt('maxRetries', o.maxRetries);
  const initialDelayMs = nonNegativeMs('initialDelayMs', o.initialDelayMs);
  const maxDelayMs = nonNegativeMs('maxDelayMs', o.maxDelayMs);
  if (maxDelayMs < initialDelayMs) throw new TypeError(`maxDelayMs must be at least initialDelayMs (${initialDelayMs}), got ${maxDelayMs}`);
  const shouldRetry = options.shouldRetry === undefined ? undefined : func<NonNullable<RetryOptions['shouldRetry']>>('shouldRetry', options.shouldRetry);
  const random = options.random === undefined ? undefined : func<() => number>('random', options.random);

  // No logger here: a throwing listener is rethrown in a microtask and stops neither the others
  // nor the retry loop.
  const events = new Emitter<RetryingConnectionEvents>();
  const emit = <K extends keyof RetryingConnectionEvents>(event: K, ...args: Parameters<RetryingConnectionEvents[K]>) => events.emit(event, ...args);
  let current: WsConnection | undefined;
  let retries = 0;
  let stopped = false;
  let ended = false;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const end = (code: number, reason: string) => {
    if (ended) return;
    ended = true;
    emit('end', code, reason);
  };

  function attempt(): void {
    timer = undefined;
    const conn = rp.ws.connect(url, { ...(headers ? { headers } : {}), ...(protocols ? { protocols } : {}) });
    current = conn;
    let lastError: BridgeError | undefined;
    conn.on('open', () => {
      retries = 0; // as in the RightPlace SDK: a successful open resets the count
      emit('open');
    });
    conn.on('message', (data) => emit('message', data));
    conn.on('error', (message, err) => {
      lastError = err;
      emit('error', message, err);
    });
    conn.on('close', (code, reason) => {
      current = undefined;
      emit('close', code, reason);
      const final = lastError !== undefined && FINAL_CODES.has(lastError.code);
      if (stopped || final || retries >= maxRetries || (shouldRetry && !shouldRetry(code, reason, lastError))) return end(code, reason);
      retries++;
      const delay = retryDelay(retries, initialDelayMs, maxDelayMs, random);
      emit('retry', retries, delay);
      timer = setTimeout(attempt, delay);
    });
  }
  attempt();

  return {
    get current() {
      return current;
    },
    get ended() {
      return ended;
    },
    on: (event, listener) => events.on(event, listener),
    send(data) {
      if (current) return current.send(data);
      // Same code as the host's refusal of a send on a connection that is not open, and as
      // asynchronous as that answer would be.
      const err = new BridgeError(BridgeErrorCode.NOT_CONNECTED, 'no connection is open (waiting to retry)');
      queueMicrotask(() => emit('error', err.message, err));
    },
    close(code, reason) {
      stopped = true;
      if (timer !== undefined) {
        clearTimeout(timer);
        timer = undefined;
        end(code ?? CloseCode.NORMAL, reason ?? '');
      }
      current?.close(code, reason);
    },
  };
}
