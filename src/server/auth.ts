// HTTP basic authentication (RFC 7617) against the bcrypt hashes of a --web-config file, as
// Prometheus exporter-toolkit does it:
// - an unknown user is checked against a fixed hash too, so the time taken does not say which
//   names exist;
// - a verification that succeeded is cached under a SHA-256 of the name, the password and the
//   stored hash, so a scrape every 15 s pays bcrypt (tens of ms of CPU) once, not each time;
// - bcrypt runs one at a time (exporter-toolkit holds a mutex around it), with a bounded queue, so
//   a client sending wrong passwords costs the node one core at most and the queue stays small.
//
// bcryptjs: bcrypt in plain JavaScript, no dependencies, no install script and no native build
// (the image builds no more addons), and its async compare yields to the event loop between
// rounds, so /healthz answers while a hash is checked. Maintained, ~3 M downloads a week.

import bcrypt from 'bcryptjs';
import { createHash } from 'node:crypto';

/** A hash of a password nobody has, at the cost users' hashes usually have (10), for unknown users. */
const DUMMY = '$2b$10$C8EvLVfWw50npYTRrACAqOygLMgMD8bShiTHSoGLznV4hs2RxxoI6';

export type AuthResult = 'ok' | 'denied' | 'busy';

export class BasicAuth {
  /** Keys of verifications that succeeded (bounded; cleared when full). */
  private readonly cache = new Set<string>();
  private queue: Promise<unknown> = Promise.resolve();
  private waiting = 0;
  /** bcrypt checks done (cache misses), for tests and the docs' numbers. */
  checks = 0;

  /** The hash unknown users are checked against: at the highest cost of the configured ones. */
  private readonly dummy: string;

  constructor(
    private readonly users: ReadonlyMap<string, string>,
    private readonly opts: { cacheSize?: number; maxWaiting?: number } = {},
  ) {
    // At the cost of the users' own hashes (htpasswd -B makes cost 5 unless told): an unknown
    // name then takes as long as a known one.
    let cost = 0;
    for (const h of users.values()) cost = Math.max(cost, costOf(h));
    this.dummy = cost === 0 || cost === costOf(DUMMY) ? DUMMY : bcrypt.hashSync('csumwatch: nobody has this password', cost);
  }

  /** Whether any user is configured (no users: no authentication). */
  get enabled(): boolean {
    return this.users.size > 0;
  }

  /** Checks an Authorization header value. */
  async check(header: string | undefined): Promise<AuthResult> {
    const cred = parseBasic(header);
    if (!cred) return 'denied';
    const stored = this.users.get(cred.user);
    const hash = stored ?? this.dummy;
    const hex = createHash('sha256').update(cred.user).update('\0').update(cred.password).update('\0').update(hash).digest('hex');
    // The look-up is by a SHA-256 that includes the password: its timing says nothing usable.
    // bcrypt's own comparison of the hashes is constant-time (bcryptjs safeStringCompare).
    if (stored !== undefined && this.cache.has(hex)) return 'ok';
    if (this.waiting >= (this.opts.maxWaiting ?? 16)) return 'busy';
    this.waiting++;
    const run = this.queue.then(async () => {
      this.checks++;
      return bcrypt.compare(cred.password, hash).catch(() => false);
    });
    this.queue = run.catch(() => false);
    let ok: boolean;
    try {
      ok = await run;
    } finally {
      this.waiting--;
    }
    if (!ok || stored === undefined) return 'denied';
    if (this.cache.size >= (this.opts.cacheSize ?? 64)) this.cache.clear();
    this.cache.add(hex);
    return 'ok';
  }
}

/** `Basic base64(user:password)` → its parts; null when absent or malformed. */
export function parseBasic(header: string | undefined): { user: string; password: string } | null {
  if (!header) return null;
  const m = /^Basic[ ]+([A-Za-z0-9+/]+={0,2})[ ]*$/i.exec(header);
  if (!m || m[1].length > 4096) return null;
  const text = Buffer.from(m[1], 'base64').toString('utf8');
  const i = text.indexOf(':');
  if (i < 0) return null;
  return { user: text.slice(0, i), password: text.slice(i + 1) };
}

/** The cost of a bcrypt hash ($2b$10$...), 0 when it is not one. */
function costOf(hash: string): number {
  const m = /^\$2[abxy]?\$(\d\d)\$/.exec(hash);
  return m ? Number(m[1]) : 0;
}
