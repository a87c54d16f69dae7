/**
 * The `origins` option of every endpoint: which browser origins may open it (docs/security.md).
 */
import type { IncomingMessage } from 'node:http';

/** Whether the request's Origin passes; requests without one (non-browsers) pass. */
export function originAllowed(req: IncomingMessage, origins: ReadonlySet<string> | undefined): boolean {
  const origin = req.headers.origin;
  return !origins || origin === undefined || origins.has(origin);
}
