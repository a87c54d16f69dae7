// phoenix: connect, a channel join, a push with a reply (its call), events, presence.
import { Presence, Socket } from 'phoenix';

const socket = new Socket('/socket', { params: { token: 'token' } });
socket.connect();
const channel = socket.channel('room:lobby', {});
channel.on('msg', (data) => console.log(data));
const presence = new Presence(channel);
presence.onSync(() => console.log(presence.list()));
channel.join().receive('ok', () => channel.push('add', { a: 2, b: 3 }).receive('ok', (sum) => console.log(sum)));
socket.disconnect();
