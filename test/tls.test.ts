/**
 * TLS end to end (docs/deploy.md, "TLS"; docs/client.md, "TLS"): real handshakes on 127.0.0.1
 * with a test CA made by openssl (tls-fixtures.ts). The Node client trusts only what its `tls.ca`
 * names and says why it refused a certificate; a server attached to an `https.Server` that asks
 * for client certificates sees the client's; the egress relay serves `wss://` and verifies its
 * `wss://` upstreams with `upstreamTls`.
 */
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer as createHttpsServer, get as httpsGet } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createEgressRelay } from '../src/bridge/node.js';
import { EGRESS_SUBPROTOCOL } from '../src/bridge/egress-protocol.js';
import { connect as connectBrowser } from '../src/client/index.js';
import { connect, type Client, type SwitchboardError } from '../src/client/node.js';
import { silentLogger } from '../src/shared/logger.js';
import { createServer } from '../src/server/index.js';
import { createTestScope, guardUnhandledRejections, within } from './helpers.js';
import { certificatesForFile } from './tls-fixtures.js';

guardUnhandledRejections();
const scope = createTestScope();
const testCertificates = certificatesForFile();

/** A server of its own serving wss:// with the test certificate; an `echo` command. */
async function wssServer() {
  const certs = testCertificates();
  const { port } = await scope.server({ tls: { key: readFileSync(certs.key, 'utf8'), cert: readFileSync(certs.cert) }, health: true }, (s) =>
    s.command('echo', (x) => x),
  );
  return { certs, port, url: `wss://127.0.0.1:${port}/ws` };
}

/** The first error the client reports (the failed attempt's coded error). */
function firstError(c: Client): Promise<SwitchboardError> {
  return within(new Promise<SwitchboardError>((resolve) => c.on('error', (e) => resolve(e as SwitchboardError))), 'the client to report the failed attempt');
}

describe('TLS', () => {
  it('the Node client trusting the test CA (tls.ca) talks to a wss:// server', async () => {
    const { certs, url } = await wssServer();
    const c = scope.client(url, { tls: { ca: certs.ca } });
    expect(await c.call('echo', 'over TLS')).toBe('over TLS');
  });

  it.each([
    { what: 'trusting another CA only', tls: (c: { otherCa: Buffer }) => ({ ca: c.otherCa }) },
    { what: "trusting the system's CAs", tls: () => undefined },
  ])('a client $what refuses the certificate with TLS_FAILED naming the cause', async ({ tls }) => {
    const { certs, url } = await wssServer();
    const c = scope.client(url, { reconnect: false, ...(tls(certs) ? { tls: tls(certs) } : {}) });
    const err = await firstError(c);
    expect(err.code).toBe('TLS_FAILED');
    const cause = (err.details as { cause?: string }).cause;
    expect(cause).toMatch(/^(UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT_LOCALLY|DEPTH_ZERO_SELF_SIGNED_CERT)$/);
    expect(err.message).toBe(`${url}: TLS handshake failed: ${cause}: the server's certificate is not trusted: pass the CA that signed it as tls.ca (close code 1006)`);
    await expect(c.call('echo', 1)).rejects.toMatchObject({ code: 'CONNECTION_FAILED' });
  });

  it('a certificate for another host name is refused (ERR_TLS_CERT_ALTNAME_INVALID) unless tls.servername names its host', async () => {
    const { certs, port } = await wssServer();
    // The certificate names 127.0.0.1 and localhost; "localhost" resolves to 127.0.0.1 or ::1, so the name travels by SNI instead.
    const wrong = scope.client(`wss://127.0.0.1:${port}/ws`, { reconnect: false, tls: { ca: certs.ca, servername: 'example.test' } });
    const err = await firstError(wrong);
    expect(err.code).toBe('TLS_FAILED');
    expect(err.message).toContain('ERR_TLS_CERT_ALTNAME_INVALID: the certificate does not name this host');
    const right = scope.client(`wss://127.0.0.1:${port}/ws`, { tls: { ca: certs.ca, servername: 'localhost' } });
    expect(await right.call('echo', 'named')).toBe('named');
  });

  it('wss:// to a plain ws:// server is TLS_FAILED saying the server does not speak TLS there', async () => {
    const { port } = await scope.server();
    const c = scope.client(`wss://127.0.0.1:${port}/ws`, { reconnect: false });
    const err = await firstError(c);
    expect(err.code).toBe('TLS_FAILED');
    expect(err.message).toContain('the server does not speak TLS on this port');
  });

  it('attached to an https.Server that asks for client certificates: the client shows its own (tls.cert, tls.key); health answers over TLS', async () => {
    const certs = testCertificates();
    const https = createHttpsServer({ key: readFileSync(certs.key), cert: readFileSync(certs.cert), ca: certs.ca, requestCert: true, rejectUnauthorized: true });
    scope.defer(() => new Promise<void>((r) => (https.closeAllConnections(), https.close(() => r()))));
    const server = scope.track(
      createServer<string>({
        server: https as never,
        logger: silentLogger,
        health: true,
        // The verified client certificate is the identity.
        authenticate: (req) => String((req.socket as TLSSocket).getPeerCertificate().subject?.CN ?? '') || null,
      }).command('whoami', (_input, ctx) => ctx.identity),
    );
    https.listen(0, '127.0.0.1');
    await once(https, 'listening');
    const { port } = await server.listen();
    const c = scope.client(`wss://127.0.0.1:${port}/ws`, { tls: { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey } });
    expect(await c.call('whoami')).toBe('test-client');
    // The health route is served on the attached https server too (with the client certificate it requires).
    const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpsGet({ host: '127.0.0.1', port, path: '/readyz', ca: certs.ca, cert: certs.clientCert, key: certs.clientKey }, (r) => {
        let body = '';
        r.setEncoding('utf8').on('data', (d: string) => (body += d)).on('end', () => resolve({ status: r.statusCode ?? 0, body }));
      });
      req.on('error', reject);
    });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({ status: 'ready', ready: true, connections: 1 });
  });

  it('checks the tls option: a certificate needs its key, tls is refused beside WebSocket and by the browser entry', () => {
    expect(() => connect('wss://x/ws', { tls: { cert: 'pem' } })).toThrow('tls.cert and tls.key go together: a client certificate needs its private key');
    expect(() => connect('wss://x/ws', { tls: { ca: 42 as never } })).toThrow(/tls\.ca must be PEM text or bytes/);
    expect(() => connect('wss://x/ws', { tls: { ca: 'pem' }, WebSocket: WebSocket as never })).toThrow(/either options\.tls or options\.WebSocket/);
    expect(() => connectBrowser('wss://x/ws', { tls: { ca: 'pem' } })).toThrow('options.tls works only under Node');
    // A misspelt key would leave certificate checks on (or off) against the caller's intent.
    expect(() => connect('wss://x/ws', { tls: { rejectUnauthorised: false } as never })).toThrow(
      new TypeError('tls.rejectUnauthorised is not an option (ca, cert, key, rejectUnauthorized, servername)'),
    );
    expect(() => createServer({ tls: { key: 'k', cert: 'c', passphrase: 'p' } as never })).toThrow(new TypeError('tls.passphrase is not an option (key, cert, ca)'));
  });

  it('the egress relay serves wss:// (tls) and opens a wss:// upstream it verifies with upstreamTls.ca', async () => {
    const { certs, port: upstreamPort } = await wssServer();
    const upstream = `wss://127.0.0.1:${upstreamPort}/ws`;
    const relay = scope.track(
      createEgressRelay({
        port: 0,
        host: '127.0.0.1',
        allow: [`wss://127.0.0.1:${upstreamPort}`],
        logger: silentLogger,
        tls: { key: readFileSync(certs.key), cert: readFileSync(certs.cert) },
        upstreamTls: { ca: certs.ca },
      }),
    );
    const { port } = await relay.listen();
    const host = new WebSocket(`wss://127.0.0.1:${port}/bridge/egress`, [EGRESS_SUBPROTOCOL], { ca: certs.ca });
    scope.defer(() => host.terminate());
    host.on('error', () => {});
    await within(once(host, 'open'), 'the relay to open over TLS');
    const messages: string[] = [];
    host.on('message', (d: Buffer) => messages.push(d.toString()));
    host.send(JSON.stringify({ type: 'connect', url: upstream, headers: {}, protocols: ['switchboard.v1.json'] }));
    await within(new Promise<void>((r) => host.once('message', () => r())), 'the relay to answer');
    expect(JSON.parse(messages[0]!)).toEqual({ type: 'open', protocol: 'switchboard.v1.json' });
  });

  it('without upstreamTls the relay refuses the upstream whose CA it does not trust, naming the TLS failure', async () => {
    const { port: upstreamPort } = await wssServer();
    const relay = scope.track(createEgressRelay({ port: 0, host: '127.0.0.1', allow: [`wss://127.0.0.1:${upstreamPort}`], logger: silentLogger }));
    const { port } = await relay.listen();
    const host = new WebSocket(`ws://127.0.0.1:${port}/bridge/egress`, [EGRESS_SUBPROTOCOL]);
    scope.defer(() => host.terminate());
    host.on('error', () => {});
    await within(once(host, 'open'), 'the relay to open');
    host.send(JSON.stringify({ type: 'connect', url: `wss://127.0.0.1:${upstreamPort}/ws`, headers: {}, protocols: [] }));
    const [data] = (await within(once(host, 'message'), 'the relay to answer')) as [Buffer];
    expect(JSON.parse(data.toString())).toMatchObject({ type: 'error', code: 'UPSTREAM_FAILED', message: expect.stringMatching(/^the upstream's TLS handshake failed \((UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN)\)$/) });
  });
});
