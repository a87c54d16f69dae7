// The full client over JSON: connect, calls (idempotent too), subscriptions with history and
// resume, presence, streams and uploads (docs/performance.md, "Bundle size").
import { connect } from 'switchboard/client';

const client = connect('wss://example.com/ws', { token: () => 'token' });
client.on('open', ({ clientId }) => console.log(clientId));
console.log(await client.call('add', { a: 2, b: 3 }, { idempotencyKey: crypto.randomUUID() }));
const sub = client.subscribe('room:lobby', (data, meta) => console.log(data, meta), { history: 50 });
sub.on('gap', (gap) => console.log(gap));
sub.on('join', (member) => console.log(member, sub.members(), sub.position()));
client.subscribe('room:archive', (data) => console.log(data), { since: { epoch: 'e', offset: 0 } });
console.log(await client.presence('room:lobby'));
await client.publish('room:lobby', { text: 'hi' });
for await (const item of client.stream('ticks', { n: 10 })) console.log(item);
console.log(await client.upload('lines', ['a', 'b']));
client.close();
