// socket.io-client: connect, an acknowledged emit (its call), an event listener (its subscription).
import { io } from 'socket.io-client';

const socket = io('https://example.com', { auth: { token: 'token' } });
socket.on('connect', () => console.log(socket.id));
socket.on('room:lobby', (data) => console.log(data));
console.log(await socket.emitWithAck('add', { a: 2, b: 3 }));
socket.emit('publish', { text: 'hi' });
socket.disconnect();
