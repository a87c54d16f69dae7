/**
 * The `switchboard` command: picks the subcommand and turns its outcome into an exit code — 0 done,
 * 1 failed (the error's code printed), 2 usage (docs/cli.md, "Exit codes"). Each subcommand is
 * imported only when run, so `token` never loads the server or `ws`.
 */
import { readFileSync } from 'node:fs';
import { UsageError } from './args.js';
import { errorText } from './format.js';
import { createStyle } from './style.js';

/** `switchboard --help`; also printed (on stderr, exit 2) when no command is given. */
export const MAIN_HELP = `Usage: switchboard <command> [options]

Commands:
  connect <url>   an interactive session with a server, or one call/stream/sub/pub for scripts
  serve           run a server from a config module, or a demo catalogue
  token           mint a development JWT (HS256) that the jwt() helper accepts
  bench           run the benchmark suite with a progress bar (in a checkout)

switchboard <command> --help shows a command's options; docs/cli.md has them all.
Exit codes: 0 done, 1 error (its code printed), 2 usage.
`;

/** The package's version, from the package.json two folders above dist/cli/. */
function version(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** What the CLI reads and writes; the process's own streams, in one place. */
export interface Io {
  input: NodeJS.ReadStream;
  out: NodeJS.WriteStream;
  err: NodeJS.WriteStream;
  env: NodeJS.ProcessEnv;
}

/** Runs the CLI with `argv` (without node and the script); resolves the exit code. */
export async function main(argv: readonly string[], io: Io = { input: process.stdin, out: process.stdout, err: process.stderr, env: process.env }): Promise<number> {
  const [command, ...args] = argv;
  const errStyle = createStyle(io.err, io.env);
  try {
    switch (command) {
      case 'connect':
        return await (await import('./connect.js')).runConnect(args, io, createStyle(io.out, io.env), io.env);
      case 'serve':
        return await (await import('./serve.js')).runServe(args, io.out, io.err, createStyle(io.out, io.env), io.env);
      case 'token':
        return await (await import('./token.js')).runToken(args, io.out, io.env);
      case 'bench':
        return await (await import('./bench.js')).runBench(args, io.out, io.err, errStyle);
      case '--version':
      case '-v':
        io.out.write(`${version()}\n`);
        return 0;
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        (command === undefined ? io.err : io.out).write(MAIN_HELP);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)}: connect, serve, token or bench (see: switchboard --help)`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      io.err.write(`${errStyle.error('switchboard:')} ${err.message}\n`);
      return 2;
    }
    io.err.write(`${errStyle.error('switchboard: error')} ${errorText(err)}\n`);
    return 1;
  }
}
