/**
 * The one error type of Switchboard: an `Error` with a string `code` and optional `details`.
 * Callers branch on `code`, never on `message`.
 *
 * @example
 * try { await client.call('pay', order) }
 * catch (err) { if (err instanceof SwitchboardError && err.code === 'TIMEOUT') retryLater() }
 */
export class SwitchboardError extends Error {
  /** A stable, machine-readable code such as `NOT_FOUND` or an application's own code. */
  readonly code: string;
  /** Structured context (validator issues, limits…). Never contains secrets. */
  readonly details: unknown;
  /** With `RATE_LIMITED`: how long to wait before the server accepts a request again, in ms. */
  readonly retryAfterMs: number | undefined;

  constructor(code: string, message: string, details?: unknown) {
    super(message);
    this.name = 'SwitchboardError';
    this.code = code;
    this.details = details;
    const retry = (details as { retryAfterMs?: unknown } | undefined)?.retryAfterMs;
    this.retryAfterMs = typeof retry === 'number' ? retry : undefined;
  }
}

/**
 * Thrown by a command handler to send its `code`, `message` and `details` to the caller.
 * Any other error thrown by a handler reaches the caller as `INTERNAL` with a generic message.
 *
 * @example
 * server.command('withdraw', ({ amount }) => {
 *   if (amount > balance) throw new ServerError('INSUFFICIENT_FUNDS', 'Balance too low', { balance });
 * });
 */
export class ServerError extends SwitchboardError {
  constructor(code: string, message: string, details?: unknown) {
    super(code, message, details);
    this.name = 'ServerError';
  }
}
