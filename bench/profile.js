/**
 * Summarises V8 CPU profiles (from `npm run bench -- --profile=dir`): self time per function,
 * highest first, as a share of the time not idle; `--only=dist` keeps Switchboard's own functions.
 *
 *   node bench/profile.js dir/rpc-switchboard-json [--top=25] [--only=dist]
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const [target, ...rest] = process.argv.slice(2);
const opt = (name) => rest.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const top = Number(opt('top') ?? 25);
const only = opt('only');
const files = statSync(target).isDirectory() ? readdirSync(target).filter((f) => f.endsWith('.cpuprofile')).map((f) => join(target, f)) : [target];

const self = new Map();
let total = 0;
for (const file of files) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  // Each sample names the node that was on top of the stack; time deltas weigh them.
  profile.samples.forEach((id, i) => {
    const n = byId.get(id);
    const dt = profile.timeDeltas[i] ?? 0;
    const { functionName, url, lineNumber } = n.callFrame;
    const where = url ? `${relative(process.cwd(), url.replace('file://', ''))}:${lineNumber + 1}` : '';
    const key = `${functionName || '(anonymous)'} ${where}`.trim();
    self.set(key, (self.get(key) ?? 0) + dt);
    total += dt;
  });
}
const idle = ['(idle)', '(program)', '(garbage collector)'];
const busy = total - [...self].filter(([k]) => idle.includes(k)).reduce((a, [, v]) => a + v, 0);
const rows = [...self].filter(([k]) => !idle.includes(k) && (!only || k.includes(only))).sort((a, b) => b[1] - a[1]).slice(0, top);
console.log(`${files.length} profile(s), ${(total / 1e6).toFixed(2)} s sampled, ${(busy / 1e6).toFixed(2)} s not idle`);
console.log(`idle ${(((self.get('(idle)') ?? 0) / total) * 100).toFixed(1)}%  program ${(((self.get('(program)') ?? 0) / total) * 100).toFixed(1)}%  GC ${(((self.get('(garbage collector)') ?? 0) / total) * 100).toFixed(1)}%`);
for (const [k, v] of rows) console.log(`${((v / busy) * 100).toFixed(1).padStart(5)}%  ${(v / 1000).toFixed(0).padStart(6)} ms  ${k}`);
