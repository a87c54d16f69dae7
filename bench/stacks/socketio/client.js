/**
 * Socket.IO's client over WebSocket only, no reconnection (a failure must count as one).
 */
import { io } from 'socket.io-client';

export function open(baseUrl) {
  const socket = io(baseUrl, { transports: ['websocket'], reconnection: false, forceNew: true, timeout: 60_000 });
  return new Promise((resolve, reject) => {
    socket.once('connect_error', (err) => reject(new Error(`connect_error: ${err.message}`)));
    socket.once('connect', () => {
      socket.off('connect_error');
      resolve({
        call: (input) => new Promise((r) => socket.emit('echo', input, r)),
        async subscribe(topic, onMessage) {
          socket.on('msg', onMessage);
          await new Promise((r) => socket.emit('sub', topic, r));
        },
        publish: (topic, data) => void socket.emit('pub', topic, data),
        close: () => socket.disconnect(),
      });
    });
  });
}
