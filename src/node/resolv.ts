// The node's resolver configuration: resolv.conf (resolv.conf(5)), and the upstream servers of a
// local stub it may point at: systemd-resolved (127.0.0.53, and 127.0.0.54 for its proxy-only
// listener, with the servers it forwards to in /run/systemd/resolve/resolv.conf) or dnsmasq
// (`server=` lines in /etc/dnsmasq.conf and /etc/dnsmasq.d/).

import { BlockList, isIP } from 'net';

export interface ResolvConf {
  nameservers: string[];
  search: string[];
  options: string[];
}

/** systemd-resolved's stub listeners. */
export const RESOLVED_STUBS = ['127.0.0.53', '127.0.0.54'];
/** The servers systemd-resolved forwards to, in resolv.conf form (what kubelet should give pods). */
export const RESOLVED_UPSTREAM = '/run/systemd/resolve/resolv.conf';
export const DNSMASQ_CONF = '/etc/dnsmasq.conf';
export const DNSMASQ_DIR = '/etc/dnsmasq.d';

/** Parses resolv.conf text; unknown keywords and comments (# or ;) are skipped. */
export function parseResolvConf(text: string): ResolvConf {
  const out: ResolvConf = { nameservers: [], search: [], options: [] };
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    const [key, ...rest] = line.split(/\s+/);
    if (key === 'nameserver' && rest[0]) out.nameservers.push(rest[0]);
    // The last of search and domain wins (resolv.conf(5)).
    else if (key === 'search' || key === 'domain') out.search = rest;
    else if (key === 'options') out.options.push(...rest);
  }
  return out;
}

/** The address without an IPv6 zone ("fe80::1%eth0" → "fe80::1"). */
export function stripZone(addr: string): string {
  const i = addr.indexOf('%');
  return i < 0 ? addr : addr.slice(0, i);
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** True for 127.0.0.0/8 and ::1 (in any spelling). */
export function isLoopback(addr: string): boolean {
  const a = stripZone(addr);
  const v = isIP(a);
  return v !== 0 && LOOPBACK.check(a, v === 4 ? 'ipv4' : 'ipv6');
}

/**
 * The catch-all upstream servers of a dnsmasq configuration: `server=ADDR[#PORT][@IFACE]`.
 * Domain-specific ones (`server=/cluster.local/10.96.0.10`) forward only their domains and are
 * left out, as are `server=/domain/` (local only) and `#` (the default servers).
 */
export function parseDnsmasqServers(text: string): string[] {
  const out: string[] = [];
  for (const raw of text.split('\n')) {
    const m = /^\s*server\s*=\s*(\S+)/.exec(raw);
    if (!m || m[1].startsWith('/')) continue;
    const addr = m[1].split(/[#@]/)[0];
    if (isIP(stripZone(addr)) !== 0) out.push(addr);
  }
  return out;
}
