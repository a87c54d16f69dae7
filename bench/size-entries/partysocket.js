// partysocket: a reconnecting WebSocket (no calls, topics or streams of its own).
import { WebSocket } from 'partysocket';

const socket = new WebSocket('wss://example.com/ws');
socket.addEventListener('message', (event) => console.log(event.data));
socket.send(JSON.stringify({ text: 'hi' }));
socket.close();
