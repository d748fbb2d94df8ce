// --web-config on the real app over a real fed Agent, on a real socket: TLS with certificates made
// by openssl at test time, plain HTTP refused, client certificates required or checked when
// given, basic auth against bcrypt hashes (401 with WWW-Authenticate, 200 with the password,
// the probes' routes open), the response headers; the file's every error stops the agent at
// start with one line (exit 2); bcrypt runs once per credential, one at a time.

import t from 'tap';
import bcrypt from 'bcryptjs';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as net from 'node:net';
import * as os from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';

import { createRegistry } from '../../src/agent/registry';
import { build } from '../../src/server/app';
import { agentViews } from '../../src/agent/views';
import { BasicAuth, parseBasic } from '../../src/server/auth';
import { loadWebConfig } from '../../src/server/webconfig';
import { usageErrors } from '../support/cli';
import { fedAgent } from '../support/fed-agent';

const dir = fs.mkdtempSync(join(os.tmpdir(), 'csw-webconfig-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
const P = (f: string) => join(dir, f);
const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });

/** A CA, a server certificate for 127.0.0.1 and a client certificate it signed; a second CA and a client of its own. */
function makeCerts(): void {
  for (const ca of ['ca', 'rogue-ca']) {
    ssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', `/CN=csumwatch test ${ca}`, '-keyout', `${ca}.key`, '-out', `${ca}.crt`);
  }
  const leaf = (name: string, ca: string, ext: string) => {
    ssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.csr`);
    fs.writeFileSync(P(`${name}.ext`), ext);
    ssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-days', '2', '-extfile', `${name}.ext`, '-out', `${name}.crt`);
  };
  leaf('server', 'ca', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  leaf('client', 'ca', 'extendedKeyUsage=clientAuth\n');
  leaf('rogue', 'rogue-ca', 'extendedKeyUsage=clientAuth\n');
}
makeCerts();

const PASSWORD = 'correct horse battery staple';
const HASH = bcrypt.hashSync(PASSWORD, 6);

function writeConfig(name: string, text: string): string {
  fs.writeFileSync(P(name), text);
  return P(name);
}

async function serve(configFile: string): Promise<{ app: FastifyInstance; port: number }> {
  const agent = fedAgent();
  const app = build({ registry: createRegistry(agent, 'x'), ...agentViews(agent), web: loadWebConfig(configFile) });
  await app.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(async () => {
    app.server.closeAllConnections();
    await app.close();
  });
  return { app, port: (app.server.address() as net.AddressInfo).port };
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** GET over HTTPS, trusting the test CA; resolves with the answer or the error's code/message. */
function get(port: number, path: string, opts: { user?: string; password?: string; client?: 'client' | 'rogue' } = {}): Promise<Answer | string> {
  return new Promise((resolve) => {
    const headers: Record<string, string> = {};
    if (opts.user !== undefined) headers.authorization = 'Basic ' + Buffer.from(`${opts.user}:${opts.password}`).toString('base64');
    const req = https.get(
      {
        host: '127.0.0.1',
        port,
        path,
        headers,
        agent: false,
        ca: fs.readFileSync(P('ca.crt')),
        ...(opts.client ? { cert: fs.readFileSync(P(`${opts.client}.crt`)), key: fs.readFileSync(P(`${opts.client}.key`)) } : {}),
        timeout: 20_000,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => resolve(((err as NodeJS.ErrnoException).code ?? err.message) as string));
  });
}

/** A plain-HTTP request on a raw socket: what came back before the server closed. */
function plain(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => s.write('GET /metrics HTTP/1.1\r\nHost: agent\r\n\r\n'));
    let data = '';
    s.on('data', (d) => (data += d.toString('latin1')));
    s.on('error', () => undefined);
    const timer = setTimeout(() => s.destroy(), 20_000);
    s.on('close', () => {
      clearTimeout(timer);
      resolve(data);
    });
  });
}

const status = (a: Answer | string) => (typeof a === 'string' ? a : a.status);

t.test('TLS and basic auth: 401 with WWW-Authenticate, 200 with the password, probes open, plain HTTP refused', async (t) => {
  const cfg = writeConfig('tls-auth.yml', [
    'tls_server_config:',
    '  cert_file: server.crt',
    '  key_file: server.key',
    'http_server_config:',
    '  headers:',
    '    Strict-Transport-Security: max-age=31536000',
    'basic_auth_users:',
    `  prometheus: ${HASH}`,
    '',
  ].join('\n'));
  const { port } = await serve(cfg);

  t.notMatch(await plain(port), /^HTTP\/1\.1 200/, 'plain HTTP gets no page');
  const none = await get(port, '/metrics');
  t.equal(status(none), 401, 'no credentials: 401');
  if (typeof none !== 'string') t.equal(none.headers['www-authenticate'], 'Basic realm="csumwatch", charset="UTF-8"', 'with WWW-Authenticate');
  t.equal(status(await get(port, '/metrics', { user: 'prometheus', password: 'wrong' })), 401, 'wrong password: 401');
  t.equal(status(await get(port, '/metrics', { user: 'nobody', password: PASSWORD })), 401, 'unknown user: 401');
  t.equal(status(await get(port, '/diagnosis', { user: 'prometheus', password: 'wrong' })), 401, '/diagnosis too');
  t.equal(status(await get(port, '/nope')), 401, 'an unknown path: 401 before 404');
  const ok = await get(port, '/metrics', { user: 'prometheus', password: PASSWORD });
  t.equal(status(ok), 200, 'the password: 200');
  if (typeof ok !== 'string') {
    t.match(ok.body, /^csumwatch_build_info\{version="x"\} 1$/m, 'the metrics page');
    t.equal(ok.headers['strict-transport-security'], 'max-age=31536000', 'http_server_config.headers sent');
  }
  t.equal(status(await get(port, '/healthz')), 200, '/healthz: open to the kubelet (no basic auth)');
  t.equal(status(await get(port, '/readyz')), 503, '/readyz: open (503: the fed agent is not started)');
  t.equal(status(await get(port, '/healthz/../metrics')), 401, 'a path that resolves to /metrics is not open');
});

t.test('RequireAndVerifyClientCert: only clients with a certificate the CA signed', async (t) => {
  const cfg = writeConfig('mtls.yml', 'tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n');
  const { port } = await serve(cfg);
  t.equal(status(await get(port, '/metrics', { client: 'client' })), 200, 'the CA\'s client: 200');
  t.type(await get(port, '/metrics'), 'string', 'no client certificate: the handshake fails');
  t.type(await get(port, '/healthz'), 'string', 'for /healthz too (TLS is below HTTP): see docs/security.md on probes');
  t.type(await get(port, '/metrics', { client: 'rogue' }), 'string', 'another CA\'s client: the handshake fails');
});

t.test('VerifyClientCertIfGiven: no certificate is fine, a bad one is not', async (t) => {
  const cfg = writeConfig('mtls-optional.yml', 'tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: ca.crt\n');
  const { port } = await serve(cfg);
  t.equal(status(await get(port, '/metrics')), 200, 'no client certificate: 200');
  t.equal(status(await get(port, '/metrics', { client: 'client' })), 200, 'the CA\'s client: 200');
  t.type(await get(port, '/metrics', { client: 'rogue' }), 'string', 'another CA\'s client: cut off');
});

t.test('every error in the file stops the agent at start: one line, exit 2', async (t) => {
  const bad: Array<[string, string, RegExp]> = [
    ['unknown-top.yml', 'tls_config: {}\n', /unknown setting 'tls_config'/],
    ['unknown-tls.yml', 'tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  certfile: x\n', /unknown setting 'tls_server_config\.certfile'/],
    ['ciphers.yml', 'tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  cipher_suites: [TLS_AES_128_GCM_SHA256]\n', /cipher_suites: not supported/],
    ['any-cert.yml', 'tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: RequireAnyClientCert\n  client_ca_file: ca.crt\n', /RequireAnyClientCert is not supported/],
    ['no-ca.yml', 'tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n', /needs client_ca_file/],
    ['ca-no-auth.yml', 'tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_ca_file: ca.crt\n', /client_auth_type is NoClientCert/],
    ['no-key.yml', 'tls_server_config:\n  cert_file: server.crt\n', /cert_file and key_file are both required/],
    ['missing.yml', 'tls_server_config:\n  cert_file: nothere.crt\n  key_file: server.key\n', /no such file: .*nothere\.crt/],
    ['mismatch.yml', 'tls_server_config:\n  cert_file: server.crt\n  key_file: client.key\n', /cannot be used/],
    ['version.yml', 'tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  min_version: TLS9\n', /min_version: expected one of TLS10/],
    ['plain-hash.yml', 'basic_auth_users:\n  prometheus: hunter2\n', /basic_auth_users\.prometheus: expected a bcrypt hash/],
    ['header.yml', 'http_server_config:\n  headers:\n    Set-Cookie: a=b\n', /Set-Cookie cannot be set/],
    ['http2.yml', 'http_server_config:\n  http2: true\n', /http2: only false/],
    ['list.yml', '- a\n- b\n', /expected a mapping/],
    ['not-yaml.yml', 'a: [\n', /not YAML/],
    ['dup.yml', `basic_auth_users:\n  a: ${HASH}\n  a: ${HASH}\n`, /not YAML/],
  ];
  for (const [name, text, why] of bad) {
    const file = writeConfig(name, text);
    t.throws(() => loadWebConfig(file), { code: 'CSW_ERR_CONFIG' }, name);
    try {
      loadWebConfig(file);
    } catch (err) {
      t.match((err as Error).message, why, `${name}: ${(err as Error).message}`);
    }
  }
  usageErrors(t, [
    [['agent', '--web-config', P('ciphers.yml')], /agent: --web-config .*cipher_suites: not supported/],
    [['agent', '--web-config', P('nothere.yml')], /no such file/],
    [['agent', '--web-config', dir], /not a regular file/],
  ]);
  // What is accepted: empty, and the documented example's shape.
  t.same(loadWebConfig(writeConfig('empty.yml', '')).users.size, 0, 'an empty file: plain HTTP, no auth');
  const good = loadWebConfig(writeConfig('good.yml', `tls_server_config:\n  cert_file: ${P('server.crt')}\n  key_file: server.key\n  min_version: TLS13\nbasic_auth_users:\n  a: ${HASH}\n  b: ${HASH.replace(/^\$2b\$/, '$2y$')}\n`));
  t.equal(good.tls?.minVersion, 'TLSv1.3');
  t.equal(good.users.size, 2, 'htpasswd\'s $2y$ hashes too');
});

t.test('bcrypt once per credential, one at a time, bounded', async (t) => {
  const auth = new BasicAuth(new Map([['prometheus', HASH], ['y', HASH.replace(/^\$2b\$/, '$2y$')]]), { maxWaiting: 2 });
  const hdr = (u: string, p: string) => 'Basic ' + Buffer.from(`${u}:${p}`).toString('base64');
  t.equal(await auth.check(hdr('prometheus', PASSWORD)), 'ok');
  t.equal(auth.checks, 1, 'one bcrypt');
  for (let i = 0; i < 5; i++) t.equal(await auth.check(hdr('prometheus', PASSWORD)), 'ok');
  t.equal(auth.checks, 1, 'the next five from the cache');
  t.equal(await auth.check(hdr('y', PASSWORD)), 'ok', '$2y$ verifies');
  t.equal(await auth.check(hdr('prometheus', PASSWORD + 'x')), 'denied', 'a wrong password is not in the cache');
  const before = auth.checks;
  t.equal(await auth.check(hdr('prometheus', PASSWORD + 'x')), 'denied');
  t.equal(auth.checks, before + 1, 'failures are checked each time (never cached)');
  t.equal(await auth.check(hdr('ghost', PASSWORD)), 'denied', 'an unknown user');
  t.equal(auth.checks, before + 2, 'costs a bcrypt too (its timing does not say the name is unknown)');
  const many = await Promise.all([1, 2, 3, 4].map((i) => auth.check(hdr('prometheus', `wrong${i}`))));
  t.same(many.sort(), ['busy', 'busy', 'denied', 'denied'], 'two wait at most; the rest are turned away');
  // With users' hashes at cost 5 (htpasswd -B's default), an unknown user is checked at cost 5
  // too: it takes as long as a known user's wrong password, not the fixed hash's cost 10.
  const cheap = new BasicAuth(new Map([['u', bcrypt.hashSync(PASSWORD, 5)]]));
  const timeOf = async (user: string): Promise<number> => {
    const t0 = process.hrtime.bigint();
    await cheap.check(hdr(user, 'wrong'));
    return Number(process.hrtime.bigint() - t0) / 1e6;
  };
  const known: number[] = [];
  const unknown: number[] = [];
  for (let i = 0; i < 7; i++) {
    known.push(await timeOf('u'));
    unknown.push(await timeOf('ghost'));
  }
  const med = (xs: number[]) => xs.sort((a, b) => a - b)[3];
  t.ok(med(unknown) < med(known) * 4, `an unknown user costs what a known one does (medians ${med(unknown).toFixed(1)} and ${med(known).toFixed(1)} ms; cost 10 would be about 32 times cost 5)`);
  for (const h of [undefined, '', 'Bearer x', 'Basic', 'Basic !!!', 'Basic ' + Buffer.from('nocolon').toString('base64')]) t.equal(parseBasic(h), null, `malformed: ${h}`);
  t.same(parseBasic('basic ' + Buffer.from('a:b:c').toString('base64')), { user: 'a', password: 'b:c' }, 'the password may hold colons');
});
