/**
 * Child processes of the bench: each server and each load generator runs in its own Node (or, for
 * a Bun stack's server, Bun) process, started through `bash -c 'ulimit -n …; exec node …'` so the fd limit is raised for it alone and
 * the PID we hold is the Node process itself. Only PIDs spawned here are ever signalled.
 */
import { execFileSync, spawn } from 'node:child_process';

/** The shell's soft and hard fd limits (what a child gets before and at most after raising). */
export function fdLimits() {
  const read = (flag) => {
    const out = execFileSync('bash', ['-c', `ulimit ${flag}`], { encoding: 'utf8' }).trim();
    return out === 'unlimited' ? Infinity : Number(out);
  };
  return { soft: read('-Sn'), hard: read('-Hn') };
}

/**
 * Starts `node [execArgv] script` (or `bun script` with `bin` set to the Bun binary: Bun speaks
 * Node's IPC channel) with an IPC channel and the fd soft limit raised to `fds` (capped by the hard
 * limit). Resolves with a handle once the child sent its first message.
 */
export function startChild(script, { execArgv = [], bin = process.execPath, fds = 1024, readyTimeoutMs = 20_000, env } = {}) {
  const child = spawn(
    'bash',
    ['-c', 'ulimit -n "$1" 2>/dev/null; shift; exec "$@"', 'bash', String(fds), bin, ...execArgv, script],
    { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, ...env } },
  );
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} sent nothing within ${readyTimeoutMs} ms`)), readyTimeoutMs);
    child.once('message', (m) => (clearTimeout(timer), resolve(m)));
    child.once('exit', (code, signal) => (clearTimeout(timer), reject(new Error(`${script} exited early (${code ?? signal})`))));
  });
  return ready.then((first) => ({ child, first, exited, stop: (graceMs) => stopChild(child, exited, graceMs) }));
}

/** Sends `msg` and resolves with the first reply of `replyType` (or rejects after `timeoutMs`). */
export function request(child, msg, replyType, timeoutMs = 30_000) {
  return new Promise((resolve, reject) => {
    const onMessage = (m) => {
      if (m?.type !== replyType) return;
      cleanup();
      resolve(m);
    };
    const onExit = () => (cleanup(), reject(new Error(`child exited while waiting for ${replyType}`)));
    const timer = setTimeout(() => (cleanup(), reject(new Error(`no ${replyType} within ${timeoutMs} ms`))), timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
    child.send(msg);
  });
}

/** Disconnects (the child exits by itself on 'disconnect'); SIGKILLs its PID after `graceMs`. */
async function stopChild(child, exited, graceMs = 5_000) {
  if (child.exitCode !== null || child.signalCode !== null) return exited;
  if (child.connected) child.disconnect();
  const timer = setTimeout(() => {
    if (child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL');
  }, graceMs);
  const result = await exited;
  clearTimeout(timer);
  return result;
}
