// centrifuge (JSON): connect, an RPC, a subscription with recovery, presence, a publish.
import { Centrifuge } from 'centrifuge';

const client = new Centrifuge('wss://example.com/connection/websocket', { token: 'token' });
client.on('connected', (ctx) => console.log(ctx.client));
const sub = client.newSubscription('room:lobby', { since: { offset: 0, epoch: 'e' } });
sub.on('publication', (ctx) => console.log(ctx.data));
sub.subscribe();
client.connect();
console.log(await client.rpc('add', { a: 2, b: 3 }));
console.log(await sub.presence());
await sub.publish({ text: 'hi' });
client.disconnect();
