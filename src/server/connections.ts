// Connections per client: the agent's clients are a scraper or two and the kubelet's probes, each
// from its own address with a connection or two. One address may hold `perAddress` connections at
// once; a further one from it is closed on accept. All addresses together may hold `total`; a new
// connection beyond that closes the oldest connection of the address holding the most, so a
// client with few connections (the kubelet) always gets in, however many addresses an attacker
// has. IPv6 clients count per /64 (one host usually has a whole /64).
//
// Node's server.maxConnections refuses the newest connection once full, which is exactly what
// let 200 idle connections from one pod lock the probes out (issue 19): it is not used.

import type { Server } from 'node:net';
import { isIPv4, isIPv6, Socket } from 'node:net';

export interface ConnectionStats {
  /** Connections open now. */
  open: number;
  /** Closed on accept: their address already held perAddress. */
  refused: number;
  /** Closed to make room for a new connection once `total` were open. */
  evicted: number;
}

/**
 * The key a connection from `addr` counts under: the address, or a global IPv6 address's /64.
 * Loopback and link-local IPv6 addresses are keyed whole: their /64 is every local process, or
 * every host on the segment.
 */
export function clientKey(addr: string | undefined): string {
  if (!addr) return '?';
  if (addr.startsWith('::ffff:') && isIPv4(addr.slice(7))) return addr.slice(7);
  if (!isIPv6(addr)) return addr;
  if (addr === '::1' || /^fe[89ab]/i.test(addr)) return addr.toLowerCase();
  const [head, tail] = addr.split('::');
  const h = head ? head.split(':') : [];
  const tl = tail !== undefined ? (tail ? tail.split(':') : []) : [];
  const groups = tail === undefined ? h : [...h, ...Array(Math.max(0, 8 - h.length - tl.length)).fill('0'), ...tl];
  return groups.slice(0, 4).map((g) => parseInt(g, 16).toString(16)).join(':') + '::/64';
}

/** Watches `server`'s connections and holds them to the limits; returns live counts. */
export function limitConnections(server: Server, limits: { perAddress: number; total: number }): ConnectionStats {
  const byKey = new Map<string, Set<Socket>>();
  // The key of each open connection, kept: a closed socket no longer says its remote address.
  const keyOf = new Map<Socket, string>();
  const stats: ConnectionStats = { open: 0, refused: 0, evicted: 0 };
  const forget = (s: Socket): void => {
    const key = keyOf.get(s);
    if (key === undefined) return;
    keyOf.delete(s);
    stats.open--;
    const set = byKey.get(key)!;
    set.delete(s);
    if (set.size === 0) byKey.delete(key);
  };
  server.on('connection', (sock: Socket) => {
    const key = clientKey(sock.remoteAddress);
    // The node's own loopback is no pod's: a local proxy in front of the agent (kube-rbac-proxy)
    // and the probes it shares 127.0.0.1 with are not held to one client's share.
    if (!isLoopback(key) && (byKey.get(key)?.size ?? 0) >= limits.perAddress) {
      stats.refused++;
      sock.destroy();
      return;
    }
    if (stats.open >= limits.total) {
      let worst: Set<Socket> | null = null;
      for (const s of byKey.values()) if (!worst || s.size > worst.size) worst = s;
      const oldest = worst?.values().next().value;
      if (oldest) {
        stats.evicted++;
        forget(oldest);
        oldest.destroy();
      }
    }
    let mine = byKey.get(key);
    if (!mine) byKey.set(key, (mine = new Set()));
    mine.add(sock);
    keyOf.set(sock, key);
    stats.open++;
    sock.once('close', () => forget(sock));
  });
  return stats;
}

/** The node's loopback address, 127.0.0.1 or ::1 (no pod outside the host network has it). */
export function isLoopback(key: string): boolean {
  return key === '127.0.0.1' || key === '::1';
}
