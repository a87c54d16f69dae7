/**
 * Bun's floor: the raw ws stack's logic and JSON wire (../ws/server.js) written on `Bun.serve`'s
 * WebSocket, as a Bun application would: topics are Bun's native pub/sub (`ws.subscribe`,
 * `server.publish`, which frames a message once inside uWebSockets and writes it to every
 * subscriber). Runs only under the Bun binary (bench/lib/child.js); the load process drives it with
 * the ws client, since the wire is the same. No streams: the scenarios that need them skip it.
 */
/* global Bun */

export async function start({ host }) {
  let open = 0;
  const server = Bun.serve({
    hostname: host,
    port: 0,
    fetch(req, srv) {
      if (new URL(req.url).pathname === '/ws' && srv.upgrade(req)) return undefined;
      return new Response(null, { status: 426 });
    },
    websocket: {
      perMessageDeflate: false,
      maxPayloadLength: 16 * 1024 * 1024,
      open() {
        open++;
      },
      close() {
        open--;
      },
      message(ws, data) {
        if (typeof data !== 'string') return;
        let m;
        try {
          m = JSON.parse(data);
        } catch {
          return ws.close(1007, 'bad JSON');
        }
        switch (m.t) {
          case 'call':
            return void ws.send(JSON.stringify({ id: m.id, output: m.input }));
          case 'sub':
            ws.subscribe(m.topic);
            return void ws.send(JSON.stringify({ id: m.id }));
          case 'pub':
            return publish(m.topic, m.data);
        }
      },
    },
  });

  function publish(topic, data) {
    server.publish(topic, JSON.stringify({ topic, data }));
  }

  return {
    port: server.port,
    connections: () => open,
    publish,
    close: () => server.stop(true),
  };
}
