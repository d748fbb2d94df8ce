// What the kubelet's configuration file says about DNS (KubeletConfiguration, kubelet.config.k8s.io):
// `clusterDNS`, the cluster DNS service addresses it writes into every ClusterFirst pod's
// resolv.conf, and `resolvConf`, the file it hands to pods with dnsPolicy Default (CoreDNS among
// them: what CoreDNS forwards to).

import { parse } from 'yaml';

export interface KubeletDns {
  clusterDNS: string[];
  /** The resolv.conf given to dnsPolicy Default pods; null when the file does not set it. */
  resolvConf: string | null;
}

/** Where kubeadm (and the kubelet's packages) and kubespray put the file. */
export const KUBELET_CONFIG_PATHS = ['/var/lib/kubelet/config.yaml', '/etc/kubernetes/kubelet-config.yaml'];

/** Parses a KubeletConfiguration (YAML or JSON); null when it is not one. */
export function parseKubeletConfig(text: string): KubeletDns | null {
  let v: unknown;
  try {
    v = parse(text);
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null) return null;
  const o = v as Record<string, unknown>;
  if (o.kind !== undefined && o.kind !== 'KubeletConfiguration') return null;
  const dns = Array.isArray(o.clusterDNS) ? o.clusterDNS.filter((a): a is string => typeof a === 'string') : [];
  return { clusterDNS: dns, resolvConf: typeof o.resolvConf === 'string' ? o.resolvConf : null };
}
