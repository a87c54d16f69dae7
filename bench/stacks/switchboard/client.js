/**
 * Switchboard's client driver for the load process: the public client API, no reconnect (a failure
 * must count as one), codec from the stack (by name; MessagePack is the client's plug-in).
 */
import { connect } from 'switchboard/client';
import { msgpack } from 'switchboard/msgpack';
import { sse } from 'switchboard/sse';

/** `transport: 'sse'`: the SSE + HTTP fallback alone (no WebSocket attempt). */
export function open(baseUrl, { codec, transport }) {
  const client = connect(`${baseUrl}/ws`, {
    codec: codec === 'msgpack' ? msgpack() : codec,
    ...(transport === 'sse' ? { WebSocket: sse({ WebSocket: null }) } : {}),
    reconnect: false,
    connectTimeoutMs: 60_000,
    timeoutMs: 120_000,
  });
  client.on('error', () => {}); // counted by the scenario through rejections, not printed
  return new Promise((resolve, reject) => {
    const offOpen = client.on('open', () => {
      offOpen();
      offClose();
      resolve({
        call: (input) => client.call('echo', input),
        async subscribe(topic, onMessage) {
          await client.subscribe(topic, onMessage).ready;
        },
        publish: (topic, data) => client.publish(topic, data),
        async stream(name, { n, highWaterMark }, onItem) {
          for await (const item of client.stream(name, { n }, { highWaterMark })) onItem(item);
        },
        close: () => client.close(),
      });
    });
    const offClose = client.on('close', (e) => {
      offOpen();
      offClose();
      reject(new Error(`closed before open: ${e.code} ${e.reason}${e.httpStatus ? ` (HTTP ${e.httpStatus})` : ''}`));
    });
  });
}
