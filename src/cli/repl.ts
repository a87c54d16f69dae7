/**
 * The interactive session of `switchboard connect` (docs/cli.md, "The interactive session"): one
 * command per line, run one after another in the order typed, so piped input gives a repeatable
 * transcript; connection state in the prompt and as lines; history across runs.
 */
import { createInterface, type Interface } from 'node:readline';
import type { Member } from '../protocol/frames.js';
import type { Subscription } from '../client/subscriptions.js';
import type { Client, ClientState } from '../client/types.js';
import { json } from './args.js';
import { errorText, jsonText } from './format.js';
import { HISTORY_SIZE, historyFile, loadHistory, saveHistory } from './history.js';
import type { Style } from './style.js';

/** What `help` prints in the interactive session. */
export const REPL_HELP = `Commands:
  call NAME [JSON]     call a command; prints its result
  stream NAME [JSON]   open a stream; prints each item until it ends (Ctrl-C cancels it)
  sub TOPIC            subscribe; messages, joins and leaves are printed as they come
  unsub TOPIC          unsubscribe
  pub TOPIC JSON       publish (strings need quotes: pub room:lobby "hi")
  presence TOPIC       list the members of a subscribed presence topic
  state                the connection state and client id
  help                 this list
  exit                 close the connection and leave (also Ctrl-D)
Events the server sends this client (event NAME DATA) and topics it subscribes it to
(subscribed by the server TOPIC, then its messages) are printed as they come.`;

const COMMANDS = ['call', 'stream', 'sub', 'unsub', 'pub', 'presence', 'state', 'help', 'exit'];

/** A line split into its command, first argument and the rest (the JSON, which may hold spaces). */
export function splitLine(line: string): { cmd: string; arg?: string; rest?: string } {
  const m = /^(\S+)(?:\s+(\S+))?(?:\s+([\s\S]*\S))?\s*$/.exec(line.trim());
  if (!m) return { cmd: '' };
  return { cmd: m[1]!, ...(m[2] !== undefined ? { arg: m[2] } : {}), ...(m[3] !== undefined ? { rest: m[3] } : {}) };
}

/** Runs the session until `exit`, end of input, or the client closing for good; resolves the exit code. */
export function runRepl(
  client: Client,
  url: string,
  io: { input: NodeJS.ReadableStream & { isTTY?: boolean }; out: NodeJS.WriteStream },
  style: Style,
  env: NodeJS.ProcessEnv,
): Promise<number> {
  const tty = io.input.isTTY === true && io.out.isTTY === true;
  const file = tty ? historyFile(env) : undefined;
  const rl: Interface = createInterface({
    input: io.input,
    output: io.out,
    terminal: tty,
    history: loadHistory(file),
    historySize: HISTORY_SIZE,
    removeHistoryDuplicates: true,
    completer: (line: string) => [COMMANDS.filter((c) => c.startsWith(line)), line],
  });
  rl.on('history', (h: string[]) => saveHistory(file, h));

  const stateColor = (s: ClientState) => (s === 'open' ? style.ok : s === 'closed' ? style.error : style.warn);
  const setPrompt = () => rl.setPrompt(`${stateColor(client.state)(client.state)}${style.dim('>')} `);
  let prompting = false;
  /** Writes a line above the prompt, keeping what the user is typing. */
  const print = (text: string) => {
    if (!tty) return void io.out.write(`${text}\n`);
    io.out.write(`\r\x1b[K${text}\n`);
    if (prompting) rl.prompt(true);
  };
  const stateLine = (text: string) => {
    setPrompt();
    print(`${stateColor(client.state)('●')} ${text}`);
  };

  const who = (from: string | undefined) => (from === undefined ? 'server' : from === client.clientId ? 'you' : from);
  const memberText = (m: Member) => `${m.id}${m.info !== undefined ? ` ${jsonText(m.info)}` : ''}`;
  const subs = new Map<string, Subscription>();
  let failures = 0;
  let running: { cancel(): void } | undefined;
  let finished = false;
  let resolveExit!: (code: number) => void;
  const exit = new Promise<number>((resolve) => (resolveExit = resolve));

  const finish = (code: number) => {
    if (finished) return;
    finished = true;
    running?.cancel();
    client.close();
    rl.close();
    // A paused pipe on stdin still holds the process open; the session reads nothing more.
    (io.input as { destroy?(): void }).destroy?.();
    resolveExit(code);
  };

  stateLine(`connecting to ${url}`);
  client.on('open', ({ clientId }) => stateLine(`open (client id ${clientId})`));
  client.on('close', ({ code, reason, willReconnect, httpStatus }) => {
    if (finished) return;
    const why = httpStatus !== undefined ? `HTTP ${httpStatus}` : `${code}${reason ? ` ${reason}` : ''}`;
    if (willReconnect) return stateLine(`connection lost (${why})`);
    stateLine(`closed (${why})`);
    finish(1);
  });
  client.on('reconnecting', ({ attempt, delayMs }) => stateLine(`reconnecting: attempt ${attempt} in ${delayMs} ms`));
  client.on('error', (e) => print(style.error(`error ${errorText(e)}`)));
  // Server control (docs/server.md, "Server control"): targeted events, and topics the server
  // subscribed this client to, followed like the user's own from their first message.
  client.on('event', ({ name, data }) => print(`${style.accent(`event ${name}`)}${data === undefined ? '' : ` ${jsonText(data)}`}`));
  client.on('subscribed', ({ topic }) => {
    if (subs.has(topic)) return;
    follow(topic);
    print(`${style.ok('subscribed by the server')} ${topic}`);
  });

  /** Subscribes to `topic`, printing its messages, presence, gaps and its end. */
  function follow(topic: string): Subscription {
    const sub = client.subscribe(topic, (data, meta) => {
      const at = meta.offset !== undefined ? ` #${meta.offset}` : '';
      print(`${style.accent(`[${topic}${at}]`)} ${style.dim(`${who(meta.from)}:`)} ${jsonText(data)}`);
    });
    subs.set(topic, sub);
    sub.on('join', (m) => print(`${style.accent(`[${topic}]`)} ${style.ok('+')} ${memberText(m)} joined`));
    sub.on('leave', (m) => print(`${style.accent(`[${topic}]`)} ${style.warn('-')} ${memberText(m)} left`));
    sub.on('gap', (g) => print(style.warn(`[${topic}] gap (${g.reason}): messages were lost`)));
    sub.on('error', (e) => {
      subs.delete(topic);
      print(style.error(`[${topic}] subscription ended: ${errorText(e)}`));
    });
    return sub;
  }

  const execute = async (line: string): Promise<void> => {
    const { cmd, arg, rest } = splitLine(line);
    const need = (what: string) => {
      if (arg === undefined) throw new Error(`${cmd} needs ${what} (type help)`);
      return arg;
    };
    switch (cmd) {
      case '':
        return;
      case 'help':
        return print(REPL_HELP);
      case 'exit':
      case 'quit':
        return finish(failures > 0 && !tty ? 1 : 0);
      case 'state':
        return print(`${client.state}${client.clientId ? ` (client id ${client.clientId})` : ''} · ${url}`);
      case 'call': {
        const name = need('a command name');
        const result = await client.call(name, rest === undefined ? undefined : json('input', rest));
        return print(`${style.dim('←')} ${jsonText(result)}`);
      }
      case 'stream': {
        const name = need('a stream name');
        const reader = client.stream(name, rest === undefined ? undefined : json('input', rest));
        running = reader;
        let n = 0;
        try {
          for await (const item of reader) {
            n++;
            print(`${style.accent(`[${name}]`)} ${jsonText(item)}`);
          }
        } finally {
          running = undefined;
        }
        return print(style.dim(`[${name}] end (${n} item${n === 1 ? '' : 's'})`));
      }
      case 'sub': {
        const topic = need('a topic');
        if (subs.has(topic)) return print(style.dim(`already subscribed to ${topic}`));
        const sub = follow(topic);
        try {
          await sub.ready;
        } catch (e) {
          subs.delete(topic);
          throw e;
        }
        const members = sub.members();
        return print(`${style.ok('subscribed')} ${topic}${members.length ? ` · members: ${members.map(memberText).join(', ')}` : ''}`);
      }
      case 'unsub': {
        const topic = need('a topic');
        const sub = subs.get(topic);
        if (!sub) throw new Error(`not subscribed to ${topic}`);
        sub.unsubscribe();
        subs.delete(topic);
        return print(`unsubscribed ${topic}`);
      }
      case 'pub': {
        const topic = need('a topic');
        if (rest === undefined) throw new Error('pub needs a JSON payload after the topic (strings need quotes: pub room:lobby "hi")');
        await client.publish(topic, json('payload', rest));
        return print(style.dim(`published to ${topic}`));
      }
      case 'presence': {
        const members = await client.presence(need('a topic'));
        return print(members.length ? members.map(memberText).join(', ') : style.dim('nobody'));
      }
      default:
        throw new Error(`unknown command ${JSON.stringify(cmd)} (type help)`);
    }
  };

  // One command at a time, in order: `sub` then `pub` must not race when lines arrive together.
  const queue: string[] = [];
  let busy = false;
  let inputEnded = false;
  const pump = async () => {
    if (busy) return;
    busy = true;
    while (queue.length > 0 && !finished) {
      const line = queue.shift()!;
      prompting = false;
      try {
        await execute(line);
      } catch (e) {
        failures++;
        print(style.error(`error ${errorText(e)}`));
      }
    }
    busy = false;
    if (finished) return;
    if (inputEnded) return finish(failures > 0 && !tty ? 1 : 0);
    if (tty) {
      prompting = true;
      rl.prompt();
    }
  };
  rl.on('line', (line) => {
    queue.push(line);
    void pump();
  });
  rl.on('close', () => {
    inputEnded = true;
    void pump();
  });
  rl.on('SIGINT', () => {
    // Ctrl-C cancels a running stream; with nothing running it leaves, as Ctrl-D does.
    if (running) running.cancel();
    else if (rl.line) {
      rl.write(null, { ctrl: true, name: 'e' }); // to the end of the line, then delete it all
      rl.write(null, { ctrl: true, name: 'u' });
    } else finish(0);
  });
  setPrompt();
  if (tty) {
    prompting = true;
    rl.prompt();
  }
  return exit;
}
