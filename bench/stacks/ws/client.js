/**
 * The floor's client: `ws` with the hand-written JSON protocol of ./server.js.
 */
import WebSocket from 'ws';

export function open(baseUrl) {
  const ws = new WebSocket(`${baseUrl}/ws`, { perMessageDeflate: false });
  const pending = new Map();
  const handlers = new Map();
  let nextId = 1;
  let onStream;

  ws.on('message', (data, isBinary) => {
    if (isBinary) return onStream?.(data, true);
    const m = JSON.parse(data);
    if (m.topic !== undefined) return handlers.get(m.topic)?.(m.data);
    if (m.id !== undefined) {
      const resolve = pending.get(m.id);
      pending.delete(m.id);
      return resolve?.(m.output);
    }
    onStream?.(m, false);
  });

  const request = (frame) =>
    new Promise((resolve) => {
      const id = nextId++;
      pending.set(id, resolve);
      ws.send(JSON.stringify({ ...frame, id }));
    });

  return new Promise((resolve, reject) => {
    ws.once('error', reject);
    ws.once('close', (code) => reject(new Error(`closed before open: ${code}`)));
    ws.once('open', () => {
      ws.removeAllListeners('close');
      ws.removeAllListeners('error');
      ws.on('error', () => {});
      ws.on('close', () => {
        for (const r of pending.values()) r(Promise.reject(new Error('connection closed')));
        pending.clear();
      });
      resolve({
        call: (input) => request({ t: 'call', input }),
        async subscribe(topic, onMessage) {
          handlers.set(topic, onMessage);
          await request({ t: 'sub', topic });
        },
        publish: (topic, data) => ws.send(JSON.stringify({ t: 'pub', topic, data })),
        stream(name, { n }, onItem) {
          return new Promise((done) => {
            onStream = (m, binary) => {
              if (binary) return onItem(m);
              if (m.t === 'item') return onItem(m.item);
              if (m.t === 'items') for (const item of m.items) onItem(item);
              else if (m.t === 'end') (onStream = undefined), done();
            };
            ws.send(JSON.stringify({ t: 'stream', name, n }));
          });
        },
        close: () => ws.close(),
      });
    });
  });
}
