/**
 * The `origins` option of every endpoint: which browser origins may open it (docs/security.md).
 */
import type { UpgradeRequest } from '../server/transport/types.js';

/** Whether the request's Origin passes; requests without one (non-browsers) pass. */
export function originAllowed(req: Pick<UpgradeRequest, 'headers'>, origins: ReadonlySet<string> | undefined): boolean {
  const origin = req.headers.origin;
  return !origins || origin === undefined || (typeof origin === 'string' && origins.has(origin));
}
