/**
 * What a failed connection attempt reports: one coded error per handshake outcome, so a developer
 * reads what went wrong instead of a bare close 1006 (docs/client.md, "When things go wrong";
 * docs/protocol.md §1.2, §4). Runtime-free: the HTTP status, the token refusal's category and the
 * system cause are whatever the runtime exposed (Node's `ws` all three, browsers none of them).
 */
import * as CloseCode from '../protocol/close-code-values.js';
import * as ErrorCode from '../protocol/error-code-values.js';
import { SwitchboardError } from '../protocol/errors.js';

/**
 * The error of an attempt that closed before the server's `welcome`. `url` is the URL tried,
 * without a query token (it is quoted in messages); `status` the HTTP status of a refused upgrade;
 * `tokenReason` the category of a refused token (`WWW-Authenticate`'s `error_description`);
 * `cause` the system error code of a network failure (`ECONNREFUSED`).
 */
export function attemptError(url: string, code: number, reason: string, status?: number, tokenReason?: string, cause?: unknown): SwitchboardError {
  if (status === 401 || status === 403 || (status === undefined && code === CloseCode.UNAUTHORIZED)) {
    const why = tokenReason ? `token refused: ${tokenReason} (HTTP ${status})` : `Handshake refused with ${status ? `HTTP ${status}` : `close code ${code}`}`;
    return new SwitchboardError(status === 403 ? ErrorCode.FORBIDDEN : ErrorCode.UNAUTHORIZED, why, { status, reason: tokenReason });
  }
  if (status === 404) {
    return new SwitchboardError(ErrorCode.ENDPOINT_NOT_FOUND, `No Switchboard endpoint at ${url} (HTTP 404): check the path (the server's default is /ws)`, { status });
  }
  if (status !== undefined) {
    // A plain HTTP server answers the upgrade like any GET: Switchboard is not attached to it.
    const what = status === 200 ? 'not a WebSocket endpoint (is the Switchboard server attached?)' : `handshake refused with HTTP ${status}`;
    return new SwitchboardError(ErrorCode.HANDSHAKE_FAILED, `${url}: ${what}`, { status });
  }
  if (code === CloseCode.ABNORMAL) {
    // Browsers report a refused handshake this way too: they hide its status (docs/client.md).
    return new SwitchboardError(ErrorCode.UNREACHABLE, `Cannot reach ${url}${cause ? `: ${String(cause)}` : ''}`, { cause });
  }
  return new SwitchboardError(ErrorCode.HANDSHAKE_FAILED, `${url} closed the connection before welcome (close code ${code}${reason ? ` "${reason}"` : ''})`, { code, reason });
}
