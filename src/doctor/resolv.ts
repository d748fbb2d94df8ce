// The node's resolv.conf and the cluster DNS service: the CoreDNS/CNI circular dependency.
//
// When the node resolves through the cluster DNS service, directly or through a loopback stub
// (systemd-resolved, dnsmasq) that forwards to it, two things break. CoreDNS runs with dnsPolicy
// Default: it gets the kubelet's resolvConf (the node's resolv.conf by default) and forwards
// what it does not serve there, that is to itself (its loop plugin then stops it: "Loop ...
// detected"). And the node's own lookups (image pulls, the CNI's calls to the API server) need
// the overlay that the CNI is still trying to set up. A loopback address in the file the kubelet
// hands to pods is a third failure: inside a pod, 127.0.0.53 is the pod's own loopback.

import { isLoopback, ResolvConf } from '../node/resolv';
import { Finding } from './finding';

export interface Stub {
  /** systemd-resolved or dnsmasq, by the address /etc/resolv.conf names. */
  kind: string;
  /** The stub's address in /etc/resolv.conf. */
  address: string;
  /** Where its upstreams were read, and what they are; null when they could not be read. */
  path: string;
  upstreams: string[] | null;
}

export interface ResolvInput {
  /** /etc/resolv.conf (null when absent) and where its symbolic link points. */
  etc: { path: string; link: string | null; conf: ResolvConf | null };
  /** The loopback stub /etc/resolv.conf points at, if it does. */
  stub: Stub | null;
  /** The cluster DNS service addresses, and where they were learnt; empty when unknown. */
  clusterDns: { addresses: string[]; source: string };
  /** The kubelet's configuration file, the resolvConf it gives dnsPolicy Default pods and that file's nameservers. */
  kubelet: { path: string; resolvConf: string; nameservers: string[] | null } | null;
}

const SEPARATE = 'forward only the cluster domain to it: systemd-resolved DNS=<cluster DNS> with Domains=~cluster.local on a link (resolvectl dns/domain), or dnsmasq server=/cluster.local/<cluster DNS>';

export function checkResolv(inp: ResolvInput): Finding[] {
  const out: Finding[] = [];
  const cluster = new Set(inp.clusterDns.addresses);
  const etcNs = inp.etc.conf?.nameservers ?? [];
  const linkNote = inp.etc.link ? ` (a link to ${inp.etc.link})` : '';
  const reported = new Set<string>();

  if (cluster.size === 0) {
    out.push({
      check: 'resolv',
      severity: 'info',
      evidence: `the cluster DNS service address is unknown (${inp.clusterDns.source}): whether the node's resolv.conf loops through it was not checked`,
      remediation: 'give it with --cluster-dns ADDR (the kube-dns Service\'s ClusterIP), or run where the kubelet\'s configuration can be read',
    });
  } else {
    const direct = etcNs.filter((a) => cluster.has(a));
    if (direct.length > 0) {
      reported.add(inp.etc.path);
      out.push({
        check: 'resolv',
        severity: 'critical',
        evidence: `${inp.etc.path}${linkNote} names the cluster DNS service ${direct.join(', ')} (${inp.clusterDns.source}) as its nameserver: the node resolves through CoreDNS, which needs the overlay this node's CNI sets up, ` +
          `and CoreDNS (dnsPolicy Default) forwards to itself through this file`,
        remediation: `point ${inp.etc.path} at the network's resolvers (DHCP's, the systemd-resolved stub with real upstreams), and to resolve cluster names on the node ${SEPARATE}`,
      });
    }
    const s = inp.stub;
    if (s && s.upstreams !== null) {
      const via = s.upstreams.filter((a) => cluster.has(a));
      if (via.length > 0) {
        reported.add(s.path);
        out.push({
          check: 'resolv',
          severity: 'critical',
          evidence: `${inp.etc.path}${linkNote} points at the ${s.kind} stub ${s.address}, which forwards to the cluster DNS service ${via.join(', ')} (${s.path}; cluster DNS from ${inp.clusterDns.source}): ` +
            `the node resolves through CoreDNS, which needs the overlay this node's CNI sets up, and CoreDNS forwards to itself when the kubelet hands pods ${s.path}`,
          remediation: `remove ${via.join(', ')} from ${s.kind}'s general upstreams (${s.kind === 'systemd-resolved' ? 'DNS= in /etc/systemd/resolved.conf or the link\'s DNS servers' : 'the server= line'}) and ${SEPARATE}`,
        });
      }
    }
  }
  if (inp.stub && inp.stub.upstreams === null) {
    out.push({
      check: 'resolv',
      severity: 'info',
      evidence: `${inp.etc.path}${linkNote} points at a ${inp.stub.kind} stub (${inp.stub.address}) whose upstream servers could not be read (${inp.stub.path})`,
      remediation: `check by hand where ${inp.stub.address} forwards to: it must not be the cluster DNS service`,
    });
  }
  const k = inp.kubelet;
  if (k && k.nameservers !== null && !reported.has(k.resolvConf)) {
    const loop = k.nameservers.filter((a) => cluster.has(a));
    const loopback = k.nameservers.filter(isLoopback);
    if (loop.length > 0) {
      out.push({
        check: 'resolv',
        severity: 'critical',
        evidence: `the kubelet (${k.path}) gives pods with dnsPolicy Default, CoreDNS among them, ${k.resolvConf}, which names the cluster DNS service ${loop.join(', ')}: CoreDNS forwards to itself`,
        remediation: `set resolvConf in ${k.path} to a file that names the network's resolvers (with systemd-resolved: /run/systemd/resolve/resolv.conf), then restart the kubelet`,
      });
    } else if (loopback.length > 0) {
      out.push({
        check: 'resolv',
        severity: 'warning',
        evidence: `the kubelet (${k.path}) gives pods with dnsPolicy Default, CoreDNS among them, ${k.resolvConf}, whose nameserver ${loopback.join(', ')} is, inside a pod, the pod's own loopback: CoreDNS forwards to nothing there (or to itself: "Loop ... detected")`,
        remediation: `set resolvConf: /run/systemd/resolve/resolv.conf (systemd-resolved's real upstreams) in ${k.path}, then restart the kubelet`,
      });
    }
  }
  return out;
}
