// --web-config FILE: TLS and basic authentication for the agent's HTTP server, in the YAML format
// of the Prometheus exporter-toolkit (node_exporter's --web.config.file), so one file serves both:
//
//   tls_server_config:
//     cert_file: server.crt          # paths relative to this file's directory
//     key_file: server.key
//     client_auth_type: RequireAndVerifyClientCert
//     client_ca_file: ca.crt
//     min_version: TLS12
//   http_server_config:
//     headers: { Strict-Transport-Security: max-age=31536000 }
//   basic_auth_users:
//     prometheus: $2b$10$...         # bcrypt hash (htpasswd -nBC 10 "" | tr -d ':\n')
//
// The subset csumwatch supports is read; any other key, or a value it cannot honour, stops the
// agent at start with a line naming it (a setting silently ignored would be a hole).

import fs from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import tls from 'node:tls';
import YAML from 'yaml';
import { ConfigError } from '../agent/config';

export type ClientAuth = 'NoClientCert' | 'VerifyClientCertIfGiven' | 'RequireAndVerifyClientCert';
const CLIENT_AUTH: readonly ClientAuth[] = ['NoClientCert', 'VerifyClientCertIfGiven', 'RequireAndVerifyClientCert'];
/** exporter-toolkit's other two: Go can require a certificate it does not verify; Node's TLS cannot at the handshake. */
const CLIENT_AUTH_UNSUPPORTED = ['RequestClientCert', 'RequireAnyClientCert'];

const VERSIONS: Record<string, tls.SecureVersion> = { TLS10: 'TLSv1', TLS11: 'TLSv1.1', TLS12: 'TLSv1.2', TLS13: 'TLSv1.3' };

/** The response headers exporter-toolkit lets a web config set (http_server_config.headers). */
const HEADERS = ['Strict-Transport-Security', 'X-Content-Type-Options', 'X-Frame-Options', 'X-XSS-Protection', 'Content-Security-Policy'];

/** A bcrypt hash as htpasswd -B, Go's bcrypt and bcryptjs write it. */
const BCRYPT = /^\$2[aby]\$(0[4-9]|[12]\d|3[01])\$[./A-Za-z0-9]{53}$/;

export interface WebConfig {
  /** Where it was read from, for messages. */
  file: string;
  /** TLS: the options for Node's https server, or null (plain HTTP). */
  tls: null | {
    key: Buffer;
    cert: Buffer;
    ca?: Buffer;
    requestCert: boolean;
    rejectUnauthorized: boolean;
    minVersion: tls.SecureVersion;
    maxVersion?: tls.SecureVersion;
    clientAuth: ClientAuth;
  };
  /** name → bcrypt hash; empty: no authentication. */
  users: Map<string, string>;
  /** Response headers added to every answer. */
  headers: Record<string, string>;
}

/** The largest web config read: a few hundred bytes in practice. */
const MAX_BYTES = 1 << 20;

/** Reads and checks a web config; throws ConfigError (exit 2) naming the file and the key. */
export function loadWebConfig(file: string): WebConfig {
  const bad = (what: string) => new ConfigError(`${file}: ${what}`);
  const text = readSmall(file, file);
  let doc: unknown;
  try {
    const d = YAML.parseDocument(text, { uniqueKeys: true });
    if (d.errors.length > 0) throw d.errors[0];
    doc = d.toJS();
  } catch (err) {
    throw bad(`not YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  if (doc === null || doc === undefined) doc = {};
  const top = mapping(doc, '', bad);
  only(top, ['tls_server_config', 'http_server_config', 'basic_auth_users'], '', bad);
  const base = dirname(file);
  const path = (v: unknown, key: string) => {
    if (typeof v !== 'string' || v === '' || v.includes('\0')) throw bad(`${key}: expected a file path`);
    return isAbsolute(v) ? v : join(base, v);
  };

  let tlsOpts: WebConfig['tls'] = null;
  if (top.tls_server_config !== undefined && top.tls_server_config !== null) {
    const k = 'tls_server_config';
    const c = mapping(top.tls_server_config, k, bad);
    only(c, ['cert_file', 'key_file', 'client_auth_type', 'client_ca_file', 'min_version', 'max_version'], k, bad, {
      cert: 'inline certificates are not supported: use cert_file',
      key: 'inline keys are not supported: use key_file',
      client_ca: 'inline CAs are not supported: use client_ca_file',
      cipher_suites: 'not supported: Node chooses the TLS 1.2 cipher suites (TLS 1.3 has no choice to make)',
      curve_preferences: 'not supported',
      prefer_server_cipher_suites: 'not supported',
      client_allowed_sans: 'not supported: restrict clients by the CA that signs their certificates',
    });
    if (c.cert_file === undefined || c.key_file === undefined) throw bad(`${k}: cert_file and key_file are both required`);
    const certFile = path(c.cert_file, `${k}.cert_file`);
    const keyFile = path(c.key_file, `${k}.key_file`);
    const cert = Buffer.from(readSmall(certFile, `${file}: ${k}.cert_file`));
    const key = Buffer.from(readSmall(keyFile, `${file}: ${k}.key_file`));
    const auth = (c.client_auth_type ?? 'NoClientCert') as string;
    if (CLIENT_AUTH_UNSUPPORTED.includes(auth)) throw bad(`${k}.client_auth_type: ${auth} is not supported (a certificate asked for but not verified); use VerifyClientCertIfGiven or RequireAndVerifyClientCert`);
    if (!CLIENT_AUTH.includes(auth as ClientAuth)) throw bad(`${k}.client_auth_type: expected one of ${CLIENT_AUTH.join(', ')}: ${String(auth)}`);
    let ca: Buffer | undefined;
    if (c.client_ca_file !== undefined) {
      if (auth === 'NoClientCert') throw bad(`${k}: client_ca_file is set but client_auth_type is NoClientCert: set client_auth_type to use it`);
      ca = Buffer.from(readSmall(path(c.client_ca_file, `${k}.client_ca_file`), `${file}: ${k}.client_ca_file`));
    } else if (auth !== 'NoClientCert') {
      throw bad(`${k}: client_auth_type ${auth} needs client_ca_file (the CA that signs the clients' certificates)`);
    }
    const version = (v: unknown, key: string): tls.SecureVersion => {
      const s = String(v);
      if (!(s in VERSIONS)) throw bad(`${k}.${key}: expected one of ${Object.keys(VERSIONS).join(', ')}: ${s}`);
      return VERSIONS[s];
    };
    const minVersion = c.min_version === undefined ? 'TLSv1.2' : version(c.min_version, 'min_version');
    const maxVersion = c.max_version === undefined ? undefined : version(c.max_version, 'max_version');
    if (maxVersion && maxVersion < minVersion) throw bad(`${k}: max_version is below min_version`);
    tlsOpts = { key, cert, ca, requestCert: auth !== 'NoClientCert', rejectUnauthorized: auth === 'RequireAndVerifyClientCert', minVersion, maxVersion, clientAuth: auth as ClientAuth };
    // The key, the certificate and the CA parse, and the key is the certificate's: checked now,
    // not at the first handshake.
    try {
      tls.createSecureContext({ key, cert, ca, minVersion, maxVersion });
    } catch (err) {
      throw bad(`${k}: the certificate, key or CA cannot be used: ${(err as Error).message}`);
    }
  }

  const headers: Record<string, string> = {};
  if (top.http_server_config !== undefined && top.http_server_config !== null) {
    const k = 'http_server_config';
    const c = mapping(top.http_server_config, k, bad);
    only(c, ['headers', 'http2'], k, bad);
    if (c.http2 !== undefined && c.http2 !== false) throw bad(`${k}.http2: only false is supported (the agent serves HTTP/1.1)`);
    if (c.headers !== undefined && c.headers !== null) {
      const h = mapping(c.headers, `${k}.headers`, bad);
      for (const [name, v] of Object.entries(h)) {
        const known = HEADERS.find((x) => x.toLowerCase() === name.toLowerCase());
        if (!known) throw bad(`${k}.headers: ${name} cannot be set (allowed: ${HEADERS.join(', ')})`);
        if (typeof v !== 'string' || /[\r\n\0]/.test(v)) throw bad(`${k}.headers.${name}: expected one line of text`);
        headers[known] = v;
      }
    }
  }

  const users = new Map<string, string>();
  if (top.basic_auth_users !== undefined && top.basic_auth_users !== null) {
    const u = mapping(top.basic_auth_users, 'basic_auth_users', bad);
    for (const [name, hash] of Object.entries(u)) {
      if (name === '' || name.includes(':')) throw bad(`basic_auth_users: not a user name: ${JSON.stringify(name)}`);
      if (typeof hash !== 'string' || !BCRYPT.test(hash)) throw bad(`basic_auth_users.${name}: expected a bcrypt hash ($2y$10$ and 53 characters; htpasswd -nBC 10 "" | tr -d ':\\n' makes one)`);
      users.set(name, hash);
    }
  }
  return { file, tls: tlsOpts, users, headers };
}

function readSmall(file: string, what: string): string {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (err) {
    throw new ConfigError(`reading ${what}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? `no such file: ${file}` : (err as Error).message}`);
  }
  if (!st.isFile()) throw new ConfigError(`reading ${what}: not a regular file: ${file}`);
  if (st.size > MAX_BYTES) throw new ConfigError(`reading ${what}: larger than 1 MiB: ${file}`);
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`reading ${what}: ${(err as Error).message}`);
  }
}

function mapping(v: unknown, key: string, bad: (w: string) => Error): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw bad(`${key || 'the file'}: expected a mapping`);
  return v as Record<string, unknown>;
}

/** Refuses keys outside `known`, with a reason for the ones exporter-toolkit has and csumwatch does not. */
function only(m: Record<string, unknown>, known: string[], where: string, bad: (w: string) => Error, unsupported: Record<string, string> = {}): void {
  for (const k of Object.keys(m)) {
    if (known.includes(k)) continue;
    const at = where ? `${where}.${k}` : k;
    if (k in unsupported) throw bad(`${at}: ${unsupported[k]}`);
    throw bad(`unknown setting '${at}' (known${where ? ` in ${where}` : ''}: ${known.join(', ')})`);
  }
}
