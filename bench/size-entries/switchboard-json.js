// The full client over JSON: connect, calls (idempotent too), subscriptions with history and
// resume, presence, streams and uploads (docs/performance.md, "Bundle size").
import { connect } from 'switchboard/client';

const client = connect('wss://example.com/ws', { token: () => 'token' });
client.on('open', console.log);
await client.call('add', { a: 2, b: 3 }, { idempotencyKey: 'k' });
const sub = client.subscribe('room', console.log, { history: 50 });
sub.on('gap', console.log);
client.subscribe('feed', console.log, { since: sub.position() });
await client.presence('room');
await client.publish('room', 'hi');
for await (const item of client.stream('ticks')) console.log(item);
await client.upload('lines', ['a', 'b']);
client.close();
