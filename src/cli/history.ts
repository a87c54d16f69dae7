/**
 * The interactive session's command history across runs: `~/.switchboard_history`, newest last,
 * readable by its owner only (lines may hold inputs). `SWITCHBOARD_HISTORY` names another file, or
 * turns it off when empty (docs/cli.md, "History").
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** Lines kept, in memory and in the file. */
export const HISTORY_SIZE = 500;

/** The history file, or `undefined` when history is not persisted. */
export function historyFile(env: NodeJS.ProcessEnv): string | undefined {
  if (env.SWITCHBOARD_HISTORY !== undefined) return env.SWITCHBOARD_HISTORY === '' ? undefined : env.SWITCHBOARD_HISTORY;
  return join(homedir(), '.switchboard_history');
}

/** The saved history, newest first (readline's order); empty when there is none or it is unreadable. */
export function loadHistory(file: string | undefined): string[] {
  if (file === undefined) return [];
  try {
    return readFileSync(file, 'utf8').split('\n').filter(Boolean).slice(-HISTORY_SIZE).reverse();
  } catch {
    return []; // no file yet (first run), or unreadable: start empty rather than fail the session
  }
}

/** Saves `history` (newest first, as readline reports it); a failure only loses the history. */
export function saveHistory(file: string | undefined, history: readonly string[]): void {
  if (file === undefined) return;
  try {
    writeFileSync(file, `${[...history].slice(0, HISTORY_SIZE).reverse().join('\n')}\n`, { mode: 0o600 });
  } catch {
    // a read-only home: the session goes on without persisted history
  }
}
