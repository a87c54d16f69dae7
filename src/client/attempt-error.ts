/**
 * What a failed connection attempt reports: one coded error per outcome, so a developer reads what
 * went wrong instead of a bare close 1006 (docs/client.md, "When things go wrong"; docs/protocol.md
 * §1.2, §4). Every message is "`url`: what happened (HTTP status, or close code and reason)"; `url`
 * is the URL tried without a query token.
 *
 * Two describers, injected by the entry point: browsers hide the HTTP status of a refused upgrade,
 * so the browser entry uses {@link closedBeforeWelcome} alone and carries no text for statuses it
 * can never see (docs/performance.md, "Bundle size"); the Node entry, over `ws`, uses
 * {@link describeAttempt}, which also reads the status and the token refusal's category.
 */
import * as CloseCode from '../protocol/close-code-values.js';
import * as ErrorCode from '../protocol/error-code-values.js';
import { SwitchboardError } from '../protocol/errors.js';
import { isTlsErrorCode } from '../shared/tls.js';
import type { WebSocketLike } from './socket.js';

/** Describes an attempt whose socket `s` closed with `code` and `reason` before the server's `welcome`. */
export type DescribeAttempt = (url: string, code: number, reason: string, s: WebSocketLike) => SwitchboardError;

/** The coded error with the one message format; `status` is the HTTP status, if any. */
function attemptFailure(code: string, url: string, what: string, details: { status?: number; code?: number; reason?: string; cause?: unknown }): SwitchboardError {
  const how = details.status ? `HTTP ${details.status}` : `close code ${details.code}${details.reason ? ` ${details.reason}` : ''}`;
  return new SwitchboardError(code, `${url}: ${what} (${how})`, details);
}

/**
 * What any runtime can tell: 4501 is a refused token (first-message authentication), 1006 a network
 * failure — or, in a browser, a refused upgrade it hides — and any other close a server that ended
 * the handshake.
 */
export const closedBeforeWelcome: DescribeAttempt = (url, code, reason) =>
  code === CloseCode.UNAUTHORIZED
    ? attemptFailure(ErrorCode.UNAUTHORIZED, url, 'token refused', { code, reason })
    : code === CloseCode.ABNORMAL
      ? attemptFailure(ErrorCode.UNREACHABLE, url, 'cannot connect', { code, reason })
      : attemptFailure(ErrorCode.HANDSHAKE_FAILED, url, 'closed before welcome', { code, reason });

/** What to do about a TLS failure, by its system code (docs/client.md, "TLS"). */
function tlsHint(cause: string): string {
  if (/ALTNAME/.test(cause)) return 'the certificate does not name this host (connect to a name it has, or set tls.servername)';
  if (/EXPIRED|NOT_YET_VALID/.test(cause)) return 'the certificate is outside its validity period';
  if (/^ERR_SSL_|^EPROTO$/.test(cause)) return 'the server does not speak TLS on this port (is it serving ws:// rather than wss://?)';
  return "the server's certificate is not trusted: pass the CA that signed it as tls.ca";
}

/**
 * With the HTTP status of a refused upgrade (`s.httpStatus`), the category of a refused token
 * (`s.httpReason`, from `WWW-Authenticate`) and the system cause of a network failure
 * (`s.errorCode`, such as `ECONNREFUSED`), where the runtime exposes them (Node's `ws`).
 */
export const describeAttempt: DescribeAttempt = (url, code, reason, s) => {
  const status = s.httpStatus;
  const cause = s.errorCode;
  if (!status && code === CloseCode.ABNORMAL && isTlsErrorCode(cause)) {
    return attemptFailure(ErrorCode.TLS_FAILED, url, `TLS handshake failed: ${cause}: ${tlsHint(cause!)}`, { code, reason, cause });
  }
  if (!status && code === CloseCode.ABNORMAL && cause) {
    return attemptFailure(ErrorCode.UNREACHABLE, url, `cannot connect: ${cause}`, { code, reason, cause });
  }
  if (!status) return closedBeforeWelcome(url, code, reason, s);
  const details = { status, reason: s.httpReason };
  if (status === 401 || status === 403) {
    const what = s.httpReason ? `token refused: ${s.httpReason}` : 'handshake refused';
    return attemptFailure(status === 403 ? ErrorCode.FORBIDDEN : ErrorCode.UNAUTHORIZED, url, what, details);
  }
  if (status === 404) return attemptFailure(ErrorCode.ENDPOINT_NOT_FOUND, url, "no Switchboard endpoint at this path: check the path (the server's default is /ws)", details);
  // A plain HTTP server answers the upgrade like any GET: Switchboard is not attached to it.
  return attemptFailure(ErrorCode.HANDSHAKE_FAILED, url, status === 200 ? 'not a WebSocket endpoint (is the Switchboard server attached?)' : 'handshake refused', details);
};
