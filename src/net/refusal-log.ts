/**
 * The `info` line of every refused upgrade request, rate-limited per peer address so a flood of
 * refused attempts cannot fill the log (docs/security.md, "Refusal logs"). Pure bookkeeping: the
 * caller says what was refused and whom; the transport that answers does not matter here.
 */
import type { Logger } from '../shared/logger.js';
import { addressKey } from './admission.js';
import type { RefusalCategory } from './refusal.js';

/** One refused request, as the log needs it. Never a token. */
export interface RefusalRecord {
  category: RefusalCategory;
  status: number;
  /** The peer's address as the socket saw it (`req.socket.remoteAddress`). */
  address: string | undefined;
  /** Which endpoint refused: "Server", "Relay". */
  endpoint: string;
}

/** Tuning of {@link createRefusalLog}; the defaults suit every endpoint. */
export interface RefusalLogOptions {
  /** At most one line per address key in this many ms; the next line counts those left out. @default 10000 */
  windowMs?: number;
  /** Address keys remembered at once; refusals from further addresses share one summary line per window. @default 1024 */
  maxAddresses?: number;
  /** The clock (tests). @default Date.now */
  now?: () => number;
}

/** Logs refusals; see {@link createRefusalLog}. */
export interface RefusalLog {
  record(r: RefusalRecord): void;
}

const DEFAULTS = { windowMs: 10_000, maxAddresses: 1_024, now: Date.now };

/** An address key's current window: when its line was written, and how many were left out since. */
interface Window {
  since: number;
  suppressed: number;
}

/**
 * Creates a refusal log on `logger`. The first refusal from an address key (an IPv4 address or an
 * IPv6 /64, as `limits.maxConnectionsPerIp` counts) at one endpoint is logged at once; more from it within
 * `windowMs` are only counted, and the first line after the window says how many were left out
 * (`suppressed`). At most `maxAddresses` keys are remembered: when more addresses are refused
 * within one window, their refusals are counted together and logged as one summary line per
 * window, so memory and log volume stay bounded whatever the flood.
 */
export function createRefusalLog(logger: Logger, options: RefusalLogOptions = {}): RefusalLog {
  const windowMs = options.windowMs ?? DEFAULTS.windowMs;
  const maxAddresses = options.maxAddresses ?? DEFAULTS.maxAddresses;
  const now = options.now ?? DEFAULTS.now;
  // Insertion order is window order: a key is re-inserted when its window starts again.
  const windows = new Map<string, Window>();
  let overflow: Window | undefined;

  /** Forgets keys whose window ended (their left-out count is lost with them, as the docs say). */
  function prune(t: number): void {
    for (const [key, w] of windows) {
      if (t - w.since < windowMs) break;
      windows.delete(key);
    }
  }

  return {
    record({ category, status, address, endpoint }) {
      const t = now();
      // Per endpoint: a relay and a server sharing a logger do not silence each other.
      const key = `${endpoint} ${addressKey(address)}`;
      const w = windows.get(key);
      if (w && t - w.since < windowMs) {
        w.suppressed++;
        return;
      }
      if (w) windows.delete(key);
      else if (windows.size >= maxAddresses) prune(t);
      if (windows.size >= maxAddresses) {
        // Too many addresses in one window: one line for all the others.
        if (overflow && t - overflow.since < windowMs) {
          overflow.suppressed++;
          return;
        }
        const suppressed = overflow?.suppressed ?? 0;
        overflow = { since: t, suppressed: 0 };
        logger.info({ endpoint, category, status, ip: address, suppressed, addresses: 'many' }, 'handshake refused');
        return;
      }
      windows.set(key, { since: t, suppressed: 0 });
      const suppressed = w?.suppressed ?? 0;
      logger.info({ endpoint, category, status, ip: address, ...(suppressed > 0 ? { suppressed } : {}) }, 'handshake refused');
    },
  };
}

/** One log per logger, shared by the endpoints that log there (each keeps its own windows). */
const logs = new WeakMap<Logger, RefusalLog>();

/** The refusal log on `logger`, created on first use. */
export function refusalLogFor(logger: Logger): RefusalLog {
  let log = logs.get(logger);
  if (!log) logs.set(logger, (log = createRefusalLog(logger)));
  return log;
}
