/**
 * Socket.IO 4 with `transports: ['websocket']` (no long-polling upgrade dance), per-message deflate
 * off (its default), the same logic written the Socket.IO way: an acknowledged `echo` event, rooms
 * for topics, `io.to(room).emit` for broadcast.
 */
import { createServer } from 'node:http';
import { Server } from 'socket.io';

export async function start({ host }) {
  const http = createServer();
  const io = new Server(http, { transports: ['websocket'], serveClient: false, maxHttpBufferSize: 16 * 1024 * 1024 });
  io.on('connection', (socket) => {
    socket.on('echo', (input, ack) => ack(input));
    socket.on('sub', (topic, ack) => {
      socket.join(topic);
      ack();
    });
    socket.on('pub', (topic, data) => io.to(topic).emit('msg', data));
  });
  await new Promise((resolve) => http.listen(0, host, resolve));
  return {
    port: http.address().port,
    connections: () => io.engine.clientsCount,
    publish: (topic, data) => void io.to(topic).emit('msg', data),
    close: () => new Promise((resolve) => {
      io.close(() => resolve());
      http.closeAllConnections();
    }),
  };
}
