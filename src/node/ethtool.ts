// A device's offload features and driver, from the `ethtool` command (`ethtool -k DEV`, `ethtool
// -i DEV`).
//
// Why the command, not ETHTOOL_MSG_FEATURES_GET over generic netlink or the SIOCETHTOOL ioctl:
// both need a native binding (Node has neither netlink sockets nor ioctl), the kernel's feature
// names come from a string set the caller must fetch and index first, and neither saves anything
// that matters for a diagnosis run every minute or by hand. ethtool 5.x+ talks netlink itself
// (falling back to the ioctl on old kernels), so the command is the kernel's own answer with its
// names. And `ethtool -k` text is what operators paste into bug reports and what the fixtures hold
// verbatim. Its `--json` form covers -k only since ethtool 6.x and -i not at all (Debian 12's 6.1
// rejects `--json -i`), so the text is parsed, which every version prints the same way:
//
//   Features for eth0:
//   tx-checksumming: on
//   	tx-checksum-ip-generic: on
//   	tx-checksum-ipv6: off [fixed]
//   tx-udp_tnl-segmentation: off [requested on]

import { runTool } from './run-tool';
import { NodeError } from './run-tool';

export interface Feature {
  on: boolean;
  /** The driver does not let it change ("[fixed]"). */
  fixed: boolean;
  /** What was asked for, when the kernel could not give it ("[requested on]"), else null. */
  requested: boolean | null;
}

/** Features by the kernel's name (tx-checksum-ip-generic, tx-udp_tnl-segmentation, ...). */
export type Features = Record<string, Feature>;

export interface DriverInfo {
  driver: string;
  version: string;
  firmware: string;
  busInfo: string;
}

const FEATURE_LINE = /^\s*([a-z0-9][\w-]*):\s+(on|off)(?:\s+\[(fixed|requested on|requested off)\])?\s*$/;

/** Parses `ethtool -k` output; lines that are not a feature (the header, warnings) are skipped. */
export function parseFeatures(text: string): Features {
  const out: Features = {};
  for (const line of text.split('\n')) {
    const m = FEATURE_LINE.exec(line);
    if (!m) continue;
    out[m[1]] = {
      on: m[2] === 'on',
      fixed: m[3] === 'fixed',
      requested: m[3] === 'requested on' ? true : m[3] === 'requested off' ? false : null,
    };
  }
  return out;
}

/** Parses `ethtool -i` output ("driver: vmxnet3" ...). Throws NodeError without a driver line. */
export function parseDriverInfo(text: string): DriverInfo {
  const f: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) f[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  if (!f.driver) throw new NodeError('reading ethtool -i output: no driver line');
  return { driver: f.driver, version: f.version ?? '', firmware: f['firmware-version'] ?? '', busInfo: f['bus-info'] ?? '' };
}

/** `feature: on`, `off [fixed]`, ... as ethtool prints it. */
export function featureText(f: Feature): string {
  const state = f.on ? 'on' : 'off';
  if (f.fixed) return `${state} [fixed]`;
  if (f.requested !== null && f.requested !== f.on) return `${state} [requested ${f.requested ? 'on' : 'off'}]`;
  return state;
}

/** `ethtool -k iface` of this network namespace. */
export function readFeatures(iface: string): Features {
  checkName(iface);
  const f = parseFeatures(runTool('ethtool', ['-k', iface]).stdout);
  if (Object.keys(f).length === 0) throw new NodeError(`reading ethtool -k ${iface}: no features in its output`);
  return f;
}

/** `ethtool -i iface` of this network namespace. */
export function readDriverInfo(iface: string): DriverInfo {
  checkName(iface);
  return parseDriverInfo(runTool('ethtool', ['-i', iface]).stdout);
}

/** An interface name as the kernel allows it (IFNAMSIZ, no slash or space): never an option. */
function checkName(iface: string): void {
  if (!/^[^\s/-][^\s/]{0,14}$/.test(iface)) throw new NodeError(`reading ethtool: not an interface name: '${iface}'`);
}
