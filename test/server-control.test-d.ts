/**
 * Types of server control (docs/server.md, "Server control"; docs/client.md, "Events from the
 * server"): hook payloads carry the server's identity type, targets are one of two shapes, and the
 * client's server-pushed events are typed.
 */
import { describe, expectTypeOf, it } from 'vitest';
import { connect } from '../src/client/node.js';
import { createServer, type ConnectInfo, type DisconnectInfo } from '../src/server/index.js';

const server = createServer<{ id: string }>({ authenticate: () => ({ id: 'u' }) });

describe('server control types', () => {
  it('types the hooks with the identity, and returns a remover', () => {
    const off = server.on('connect', (info) => {
      expectTypeOf(info).toEqualTypeOf<ConnectInfo<{ id: string }>>();
      expectTypeOf(info.identity.id).toEqualTypeOf<string>();
      expectTypeOf(info.codec).toEqualTypeOf<'json' | 'msgpack'>();
    });
    expectTypeOf(off).toEqualTypeOf<() => void>();
    server.on('disconnect', async (info) => {
      expectTypeOf(info).toEqualTypeOf<DisconnectInfo<{ id: string }>>();
      expectTypeOf(info.initiator).toEqualTypeOf<'client' | 'server'>();
    });
    // @ts-expect-error unknown server event
    server.on('open', () => {});
  });

  it('accepts a clientId or a member as target, nothing else', () => {
    expectTypeOf(server.send({ member: 'alice' }, 'note', { text: 'hi' })).toEqualTypeOf<Promise<void>>();
    void server.kick({ clientId: 'c' }, { reason: 'bye', reconnect: true });
    void server.subscribe({ member: 'alice' }, 'room:1', { bypassRules: true });
    void server.unsubscribe({ clientId: 'c' }, 'room:1', { reason: 'gone' });
    // @ts-expect-error a target is { clientId } or { member }
    void server.send({ id: 'alice' }, 'note');
    // @ts-expect-error unknown kick option
    void server.kick({ member: 'a' }, { code: 4000 });
  });

  it('types the client events from the server', () => {
    const client = connect('ws://x');
    client.on('event', (e) => {
      expectTypeOf(e.name).toEqualTypeOf<string>();
      expectTypeOf(e.data).toEqualTypeOf<unknown>();
    });
    client.on('subscribed', (e) => expectTypeOf(e.topic).toEqualTypeOf<string>());
  });
});
