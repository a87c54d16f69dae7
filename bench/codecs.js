/**
 * `node bench/codecs.js`: a micro-benchmark of the MessagePack libraries against JSON on
 * Switchboard's own frames (docs/performance.md, "MessagePack codec"). Each codec encodes and
 * decodes the same frames in one process, interleaved round by round (so a busy spell of the
 * machine slows every codec alike); figures are operations per second, the median over rounds.
 *
 *   node bench/codecs.js [--rounds=7] [--ms=300]
 *
 * Run `npm run build` first: the Switchboard rows measure the built codecs (dist/), which add a walk
 * before encoding and, for MessagePack, a check of the input before decoding.
 *
 * JSON is measured as the JSON codec runs: `JSON.stringify` and a UTF-8 encode to bytes (which `ws`
 * does before sending a string), and a UTF-8 decode and `JSON.parse`. MessagePack libraries are set
 * up for plain MessagePack, as src/protocol/msgpack.ts does. `msgpackr` is measured twice where its
 * optional native addon (msgpackr-extract) loads: pure JavaScript, and with the addon.
 */
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { Decoder, Encoder } from '@msgpack/msgpack';
import { CHUNK, fanPayload, rpcPayload, STREAM_ITEM } from './stacks/payloads.js';
import { median } from './lib/stats.js';

const argv = process.argv.slice(2);
const option = (name, dflt) => Number(argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? dflt);
const rounds = option('rounds', 7);
const ms = option('ms', 300);

/** The frames, as the server and client exchange them (docs/protocol.md §2). */
const FRAMES = {
  'call (RPC request)': { t: 'call', id: 12345, name: 'echo', input: rpcPayload(7) },
  'ok (RPC answer)': { t: 'ok', id: 12345, output: rpcPayload(7) },
  'msg (fan-out)': { t: 'msg', topic: 'fan', data: fanPayload(42, 1796024033688.274) },
  'item × 256 (batched stream)': { t: 'item', id: 3, items: Array.from({ length: 256 }, (_, i) => ({ ...STREAM_ITEM, seq: i })) },
  'item, 64 KB binary': { t: 'item', id: 3, items: [CHUNK] },
};

const utf8Out = new TextEncoder();
const utf8In = new TextDecoder();
const codecs = {
  JSON: {
    encode: (f) => utf8Out.encode(JSON.stringify(f)),
    decode: (b) => JSON.parse(utf8In.decode(b)),
    // The JSON codec sends binary values in an envelope, not measured here.
    skip: (name) => name.includes('binary'),
  },
};
{
  const enc = new Encoder({ ignoreUndefined: true, maxDepth: 1_001 });
  const dec = new Decoder();
  codecs['@msgpack/msgpack'] = { encode: (f) => enc.encode(f), decode: (b) => dec.decode(b) };
}
// Switchboard's own codecs, whole: the MessagePack one is msgpackr plus the walk before encoding
// and the plain-MessagePack check before decoding (src/protocol/msgpack.ts).
const { jsonCodec, msgpackCodec } = await import('switchboard/protocol');
codecs['Switchboard JSON codec'] = {
  encode: (f) => utf8Out.encode(jsonCodec.encode(f)),
  decode: (b) => jsonCodec.decode(b, false).value,
  skip: (name) => name.includes('binary'),
};
codecs['Switchboard MsgPack codec'] = { encode: (f) => msgpackCodec.encode(f), decode: (b) => msgpackCodec.decode(b, true).value };
const require = createRequire(import.meta.url);
/** msgpackr configured for plain MessagePack: no records, no bundled strings, no extensions of its own. */
const plain = { useRecords: false, mapsAsObjects: true, variableMapSize: true, moreTypes: false, bundleStrings: false, structuredClone: false, int64AsType: 'number', useFloat32: 0, encodeUndefinedAsNil: false };
try {
  // The pure-JavaScript build: msgpackr's 'msgpackr/unpack' export is its index.js on Node, which
  // never loads the native addon.
  const { Packr } = await import('msgpackr/unpack');
  const p = new Packr(plain);
  codecs['msgpackr (JS)'] = { encode: (f) => p.pack(f), decode: (b) => p.unpack(b) };
  try {
    const native = require('msgpackr');
    if (native.isNativeAccelerationEnabled) {
      const n = new native.Packr(plain);
      codecs['msgpackr (native addon)'] = { encode: (f) => n.pack(f), decode: (b) => n.unpack(b) };
    }
  } catch {
    // the addon is optional
  }
} catch {
  console.log('msgpackr is not installed: only JSON and @msgpack/msgpack are measured');
}

/** Runs `fn` for about `ms` and returns calls per second. */
function rate(fn) {
  let n = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < ms) {
    for (let i = 0; i < 100; i++) fn();
    n += 100;
    t = performance.now();
  }
  return (n / (t - t0)) * 1000;
}

const results = {};
for (const [frameName, frame] of Object.entries(FRAMES)) {
  const bytes = {};
  for (const [name, c] of Object.entries(codecs)) {
    if (c.skip?.(frameName)) continue;
    const encoded = c.encode(frame);
    bytes[name] = encoded.byteLength;
    results[frameName] ??= {};
    results[frameName][name] = { bytes: encoded.byteLength, encode: [], decode: [], encoded };
  }
  // Plain MessagePack from every library: the same bytes (maps in insertion order).
  const mp = Object.entries(results[frameName]).filter(([n]) => !n.includes('JSON'));
  for (const [n, r] of mp) if (Buffer.compare(Buffer.from(r.encoded), Buffer.from(mp[0][1].encoded)) !== 0) console.log(`note: ${n} writes other bytes than ${mp[0][0]} for ${frameName}`);
}
for (let round = 0; round < rounds; round++) {
  for (const [frameName, frame] of Object.entries(FRAMES)) {
    for (const [name, r] of Object.entries(results[frameName])) {
      const c = codecs[name];
      r.encode.push(rate(() => c.encode(frame)));
      r.decode.push(rate(() => c.decode(r.encoded)));
    }
  }
  process.stderr.write(`\rround ${round + 1}/${rounds}`);
}
process.stderr.write('\n');

const fmt = (x) => Math.round(x).toLocaleString('en-US');
console.log(`Node ${process.version}, ${rounds} rounds of ${ms} ms per figure, medians; ops/s (× JSON)\n`);
for (const [frameName, byCodec] of Object.entries(results)) {
  console.log(frameName);
  const json = byCodec.JSON;
  for (const [name, r] of Object.entries(byCodec)) {
    const e = median(r.encode);
    const d = median(r.decode);
    const vs = (x, j) => (json ? ` (${(x / median(j)).toFixed(2)}×)` : '');
    console.log(`  ${name.padEnd(24)} ${String(r.bytes).padStart(6)} B   encode ${fmt(e).padStart(11)}${vs(e, json?.encode ?? [])}   decode ${fmt(d).padStart(11)}${vs(d, json?.decode ?? [])}`);
  }
}
