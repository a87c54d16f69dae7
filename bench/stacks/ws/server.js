/**
 * The floor: the same logic hand-written on `ws`, as an application would. JSON messages
 * `{ t, id, … }`; a broadcast serialises once and `send`s the string to each subscriber (the
 * idiomatic loop: ws turns the string into bytes and frames it per socket).
 */
import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';
import { CHUNK, STREAM_ITEM } from '../payloads.js';

/** Bytes buffered in a socket above which a stream waits for the kernel to take them. */
const HIGH_WATER = 1024 * 1024;

export async function start({ host }) {
  const http = createServer((_req, res) => res.writeHead(426).end());
  const wss = new WebSocketServer({ server: http, path: '/ws', perMessageDeflate: false, maxPayload: 16 * 1024 * 1024 });
  const topics = new Map();

  wss.on('connection', (ws) => {
    const mine = new Set();
    ws.on('error', () => {});
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      let m;
      try {
        m = JSON.parse(data);
      } catch {
        return ws.close(1007, 'bad JSON');
      }
      switch (m.t) {
        case 'call':
          return ws.send(JSON.stringify({ id: m.id, output: m.input }));
        case 'sub': {
          let set = topics.get(m.topic);
          if (!set) topics.set(m.topic, (set = new Set()));
          set.add(ws);
          mine.add(m.topic);
          return ws.send(JSON.stringify({ id: m.id }));
        }
        case 'pub':
          return publish(m.topic, m.data);
        case 'stream':
          return void stream(ws, m.name, m.n);
      }
    });
    ws.on('close', () => {
      for (const topic of mine) topics.get(topic)?.delete(ws);
    });
  });

  function publish(topic, data) {
    const set = topics.get(topic);
    if (!set) return;
    const out = JSON.stringify({ topic, data });
    for (const c of set) if (c.readyState === 1) c.send(out);
  }

  /**
   * Sends n items. Whenever more than HIGH_WATER bytes wait in the socket, it waits for the send
   * callback of the latest item (called once ws handed it to the kernel): the usual backpressure idiom.
   */
  async function stream(ws, name, n) {
    const send = (payload, binary) => {
      if (ws.bufferedAmount <= HIGH_WATER) return void ws.send(payload, { binary });
      return new Promise((resolve) => ws.send(payload, { binary }, resolve));
    };
    if (name === 'chunks') {
      for (let i = 0; i < n; i++) {
        const p = send(CHUNK, true);
        if (p) await p;
      }
    } else if (name === 'small-batched') {
      for (let i = 0; i < n; ) {
        const items = [];
        for (const end = Math.min(n, i + 256); i < end; i++) items.push({ ...STREAM_ITEM, seq: i });
        const p = send(JSON.stringify({ t: 'items', items }), false);
        if (p) await p;
      }
    } else {
      for (let i = 0; i < n; i++) {
        const p = send(JSON.stringify({ t: 'item', item: { ...STREAM_ITEM, seq: i } }), false);
        if (p) await p;
      }
    }
    if (ws.readyState === 1) ws.send('{"t":"end"}');
  }

  await new Promise((resolve) => http.listen(0, host, resolve));
  return {
    port: http.address().port,
    connections: () => wss.clients.size,
    publish,
    close: () => new Promise((resolve) => {
      for (const c of wss.clients) c.terminate();
      wss.close();
      http.close(() => resolve());
      http.closeAllConnections();
    }),
  };
}
