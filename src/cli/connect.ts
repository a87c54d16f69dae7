/**
 * `switchboard connect <url>`: an interactive session (repl.ts), or one operation for scripts
 * (`--call`, `--stream`, `--sub`, `--pub`) printing JSON lines (docs/cli.md, "connect").
 */
import { connect } from '../client/node.js';
import type { ClientOptions } from '../client/options.js';
import type { Client } from '../client/types.js';
import * as ErrorCode from '../protocol/error-code-values.js';
import { SwitchboardError } from '../protocol/errors.js';
import { durationMs, json, parse, positiveCount, str, UsageError } from './args.js';
import { errorText, jsonText } from './format.js';
import { runRepl } from './repl.js';
import type { Style } from './style.js';

/** `switchboard connect --help`. */
export const CONNECT_HELP = `Usage: switchboard connect <url> [options]

Without an operation flag: an interactive session (type help in it). With one: runs it,
prints JSON lines on stdout, and exits (0 ok, 1 error with its code on stderr, 2 usage).

Options:
  --token TOKEN        token sent in the handshake (default: $SWITCHBOARD_TOKEN)
  --codec json|msgpack wire codec (default: json)
  --call NAME          call a command once; prints its result
  --stream NAME        open a stream; prints each item
  --sub TOPIC          subscribe; prints each message as {"data":…,"meta":{…}}
  --pub TOPIC          publish --input to TOPIC; prints nothing
  --input JSON         input of --call/--stream, payload of --pub
  --count N            with --sub/--stream: exit after N messages/items
  --timeout DURATION   deadline of the whole operation, connecting included: 500ms, 10s, 1m;
                       a bare number is seconds (default: 30s for --call/--pub, none otherwise)
  -h, --help           this help

Examples:
  switchboard connect ws://127.0.0.1:8080/ws
  switchboard connect ws://127.0.0.1:8080/ws --call add --input '{"a":1,"b":2}'
  switchboard connect ws://127.0.0.1:8080/ws --sub room:lobby --count 10 --timeout 1m
`;

/** Deadline of `--call` and `--pub` without `--timeout`: the client's default call deadline. */
const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

type Mode = 'call' | 'stream' | 'sub' | 'pub';
const MODES: Mode[] = ['call', 'stream', 'sub', 'pub'];

/** What a connect command line asks for, checked. */
export interface ConnectPlan {
  url: string;
  codec: 'json' | 'msgpack';
  token?: string;
  op?: { mode: Mode; target: string; input: unknown; count?: number; timeoutMs?: number };
}

/** `http(s)://` is accepted for `ws(s)://`; anything else but a ws URL is a usage error. */
export function wsUrl(text: string): string {
  let u: URL;
  try {
    u = new URL(text.replace(/^http(s?):\/\//i, 'ws$1://'));
  } catch {
    throw new UsageError(`not a URL: ${JSON.stringify(text)} (e.g. ws://127.0.0.1:8080/ws)`);
  }
  if (u.protocol !== 'ws:' && u.protocol !== 'wss:') throw new UsageError(`the URL must start with ws:// or wss://, got ${JSON.stringify(text)}`);
  return u.href;
}

/** Checks a `connect` command line. */
export function planConnect(args: readonly string[], env: NodeJS.ProcessEnv): ConnectPlan | 'help' {
  const p = parse('connect', args, {
    token: { type: 'string' },
    codec: { type: 'string' },
    call: { type: 'string' },
    stream: { type: 'string' },
    sub: { type: 'string' },
    pub: { type: 'string' },
    input: { type: 'string' },
    count: { type: 'string' },
    timeout: { type: 'string' },
  });
  if (p.values.help === true) return 'help';
  if (p.positionals.length !== 1) throw new UsageError(p.positionals.length === 0 ? 'the server URL is missing (switchboard connect ws://HOST:PORT/ws)' : `one URL expected, got ${p.positionals.length}: ${p.positionals.join(' ')}`);
  const codec = str(p, 'codec') ?? 'json';
  if (codec !== 'json' && codec !== 'msgpack') throw new UsageError(`--codec must be json or msgpack, got ${JSON.stringify(codec)}`);
  const modes = MODES.filter((m) => str(p, m) !== undefined);
  if (modes.length > 1) throw new UsageError(`--${modes[0]} and --${modes[1]} cannot be combined: one operation per run`);
  const mode = modes[0];
  const inputText = str(p, 'input');
  const countText = str(p, 'count');
  const timeoutText = str(p, 'timeout');
  if (mode === undefined && (inputText ?? countText ?? timeoutText) !== undefined) {
    throw new UsageError('--input, --count and --timeout go with an operation: --call, --stream, --sub or --pub');
  }
  if (inputText !== undefined && mode === 'sub') throw new UsageError('--input does not apply to --sub');
  if (countText !== undefined && (mode === 'call' || mode === 'pub')) throw new UsageError(`--count applies to --sub and --stream, not --${mode}`);
  if (mode === 'pub' && inputText === undefined) throw new UsageError('--pub needs --input: the JSON payload to publish');
  const token = str(p, 'token') ?? (env.SWITCHBOARD_TOKEN || undefined);
  const plan: ConnectPlan = { url: wsUrl(p.positionals[0]!), codec, ...(token !== undefined ? { token } : {}) };
  if (mode !== undefined) {
    const timeoutMs = timeoutText !== undefined ? durationMs('timeout', timeoutText) : mode === 'call' || mode === 'pub' ? DEFAULT_REQUEST_TIMEOUT_MS : undefined;
    plan.op = {
      mode,
      target: str(p, mode)!,
      input: inputText !== undefined ? json('--input', inputText) : undefined,
      ...(countText !== undefined ? { count: positiveCount('count', countText) } : {}),
      ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    };
  }
  return plan;
}

/** Client options for a plan: the codec plug-in is imported only when MessagePack is asked for. */
async function clientOptions(plan: ConnectPlan): Promise<ClientOptions> {
  const codec = plan.codec === 'msgpack' ? (await import('../msgpack/index.js')).msgpack() : 'json';
  return { codec, ...(plan.token !== undefined ? { token: plan.token } : {}) };
}

/**
 * Resolves once `client` is open; rejects if it closes for good first, or, until it has been open
 * once, at its first close: a script should fail at once on a wrong URL, not retry forever.
 * `ended` rejects whenever the client closes for good later.
 */
function watch(client: Client, url: string): { opened: Promise<void>; ended: Promise<never> } {
  let lastError: Error | undefined;
  client.on('error', (e) => (lastError = e));
  let wasOpen = false;
  let failOpen!: (e: Error) => void;
  let failEnded!: (e: Error) => void;
  const opened = new Promise<void>((resolve, reject) => {
    failOpen = reject;
    client.on('open', () => {
      wasOpen = true;
      resolve();
    });
  });
  const ended = new Promise<never>((_, reject) => (failEnded = reject));
  ended.catch(() => {}); // observed only by the operations that race it
  client.on('close', ({ code, reason, willReconnect, httpStatus }) => {
    if (wasOpen && willReconnect) return;
    const why = httpStatus !== undefined ? `HTTP ${httpStatus}` : `close code ${code}${reason ? ` (${reason})` : ''}`;
    const err = lastError ?? new SwitchboardError(ErrorCode.DISCONNECTED, wasOpen ? `the connection to ${url} ended: ${why}` : `could not connect to ${url}: ${why}`);
    failOpen(err);
    failEnded(err);
  });
  return { opened, ended };
}

/** Rejects with TIMEOUT after `ms` (never when `ms` is undefined); `stop()` clears the timer. */
function deadline(ms: number | undefined): { expired: Promise<never>; stop(): void } {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    if (ms !== undefined) timer = setTimeout(() => reject(new SwitchboardError(ErrorCode.TIMEOUT, `not done within --timeout ${ms} ms`)), ms);
  });
  expired.catch(() => {});
  return { expired, stop: () => clearTimeout(timer) };
}

/** Resolves at the first SIGINT or SIGTERM (Ctrl-C ends a --sub or --stream normally). */
function interrupted(): { signal: Promise<void>; stop(): void } {
  let on!: () => void;
  const signal = new Promise<void>((resolve) => {
    on = () => resolve();
    process.once('SIGINT', on);
    process.once('SIGTERM', on);
  });
  return { signal, stop: () => (process.off('SIGINT', on), process.off('SIGTERM', on)) };
}

/** Runs one operation; resolves the exit code. */
async function runOnce(plan: ConnectPlan, op: NonNullable<ConnectPlan['op']>, out: NodeJS.WritableStream, err: NodeJS.WritableStream, style: Style): Promise<number> {
  const client = connect(plan.url, { ...(await clientOptions(plan)), ...(op.timeoutMs !== undefined ? { connectTimeoutMs: op.timeoutMs, timeoutMs: op.timeoutMs } : {}) });
  const { opened, ended } = watch(client, plan.url);
  const timer = deadline(op.timeoutMs);
  // Ctrl-C ends a --sub or --stream normally; a --call or --pub keeps Node's default (it dies).
  const interruptible = op.mode === 'sub' || op.mode === 'stream';
  const stopper = interruptible ? interrupted() : undefined;
  const line = (v: unknown) => out.write(`${jsonText(v)}\n`);
  const work = async (): Promise<void> => {
    await opened;
    if (op.mode === 'call') line(await client.call(op.target, op.input));
    else if (op.mode === 'pub') await client.publish(op.target, op.input);
    else if (op.mode === 'stream') {
      let n = 0;
      const reader = client.stream(op.target, op.input);
      try {
        for await (const item of reader) {
          line(item);
          if (++n === op.count) break; // break cancels the stream on the server
        }
      } finally {
        reader.cancel();
      }
    } else {
      let n = 0;
      let done!: () => void;
      const enough = new Promise<void>((resolve) => (done = resolve));
      const sub = client.subscribe(op.target, (data, meta) => {
        if (n === op.count) return;
        line({ data, meta });
        if (++n === op.count) done();
      });
      sub.on('gap', (g) => err.write(`${style.warn(`gap on ${g.topic} (${g.reason}): messages were lost`)}\n`));
      const refused = new Promise<never>((_, reject) => sub.on('error', reject));
      await Promise.race([sub.ready, refused]);
      await Promise.race([enough, refused]);
    }
  };
  try {
    await Promise.race([work(), ended, timer.expired, ...(stopper ? [stopper.signal] : [])]);
    return 0;
  } catch (e) {
    err.write(`${style.error(`error ${errorText(e)}`)}\n`);
    return 1;
  } finally {
    timer.stop();
    stopper?.stop();
    client.close();
  }
}

/** Runs `switchboard connect`; resolves the exit code. */
export async function runConnect(args: readonly string[], io: { input: NodeJS.ReadableStream & { isTTY?: boolean }; out: NodeJS.WriteStream; err: NodeJS.WritableStream }, style: Style, env: NodeJS.ProcessEnv): Promise<number> {
  const plan = planConnect(args, env);
  if (plan === 'help') {
    io.out.write(CONNECT_HELP);
    return 0;
  }
  if (plan.op) return runOnce(plan, plan.op, io.out, io.err, style);
  const client = connect(plan.url, await clientOptions(plan));
  return runRepl(client, plan.url, io, style, env);
}

