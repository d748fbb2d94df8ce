// Transmit checksum offload on a VXLAN device and its underlay.
//
// With tx-checksum-ip-generic on the VXLAN device, the kernel leaves the inner UDP/TCP checksum
// for the device below to complete (CHECKSUM_PARTIAL through the tunnel; the outer UDP checksum is
// then computed by local checksum offload as if the inner one were complete). A NIC or hypervisor
// that does not complete an encapsulated checksum, VMware's vmxnet3 the reported one, sends
// packets whose inner checksum holds only the pseudo-header sum, and every receiver drops them
// (Udp InCsumErrors, kfree_skb reason UDP_CSUM). The underlay's own features say what it is asked
// to do with tunnel packets: tx-udp_tnl-segmentation and tx-udp_tnl-csum-segmentation hand it
// whole encapsulated TCP segments to cut and checksum.
//
// Severity rises with the evidence: offload on alone is info; a NIC known for the failure or
// checksum errors counted since boot raise it one step each; errors rising between two readings
// make it critical. With the VXLAN device's offload off, errors counted here are a peer's (or
// NAT's) doing: info, warning while they rise.

import { Feature, Features, featureText } from '../node/ethtool';
import { Finding, raise, Severity } from './finding';

/** The features a doctor report lists per device (csumwatch_offload_enabled{iface,feature}). */
export const OFFLOAD_FEATURES = [
  'tx-checksum-ip-generic',
  'tx-checksum-ipv4',
  'tx-checksum-ipv6',
  'tx-udp_tnl-segmentation',
  'tx-udp_tnl-csum-segmentation',
] as const;

/** NIC drivers behind the reported VXLAN checksum offload failures, with what to say about them. */
export const KNOWN_BAD_DRIVERS: Record<string, string> = {
  vmxnet3: 'VMware vmxnet3, the NIC of the reported VXLAN checksum offload failures (flannel#1279, calico#3145, kubespray#8992, OpenShift bug 1987108)',
};

/** Emulated NICs: their offload is the hypervisor's device model, named in the evidence. */
export const EMULATED_DRIVERS: Record<string, string> = {
  e1000: 'an emulated Intel e1000 (VMware, QEMU/KVM, VirtualBox): its offload is done by the hypervisor',
  e1000e: 'an emulated Intel 82574 (e1000e; VMware, QEMU/KVM): its offload is done by the hypervisor',
};

export interface DeviceOffload {
  name: string;
  /** ethtool -i's driver (vxlan, veth, vmxnet3, ...). */
  driver: string;
  /** null when ethtool could not read them; error says why. */
  features: Features | null;
  error?: string;
}

export interface CsumErrors {
  /** Udp InCsumErrors + Udp6 InCsumErrors since boot; null when /proc/net/snmp could not be read. */
  total: number | null;
  /** Their rise since an earlier reading; null without one. */
  rise: number | null;
  /** Seconds between the two readings. */
  seconds: number | null;
}

export interface OffloadInput {
  vxlan: DeviceOffload;
  /** VXLAN UDP port, for the evidence. */
  port: number;
  underlay: DeviceOffload | null;
  errors: CsumErrors;
}

const on = (fs: Features | null, name: string): boolean => fs?.[name]?.on === true;

/** The offload finding for one VXLAN device, or none when its offload is off and nothing is wrong. */
export function checkOffload(inp: OffloadInput): Finding[] {
  const vx = inp.vxlan;
  const ul = inp.underlay;
  if (vx.features === null) {
    return [{
      check: 'offload',
      severity: 'warning',
      evidence: `${vx.name}: could not read its offload features: ${vx.error ?? 'unknown error'}`,
      remediation: 'run `ethtool -k ' + vx.name + '` by hand; csumwatch needs ethtool (apt install ethtool) and to run in the node\'s network namespace',
    }];
  }
  const vxOn = on(vx.features, 'tx-checksum-ip-generic');
  const known = ul ? KNOWN_BAD_DRIVERS[ul.driver] : undefined;
  const emulated = ul ? EMULATED_DRIVERS[ul.driver] : undefined;
  const rising = (inp.errors.rise ?? 0) > 0;
  const past = (inp.errors.total ?? 0) > 0;
  const tunnelGso = ul !== null && (on(ul.features, 'tx-udp_tnl-segmentation') || on(ul.features, 'tx-udp_tnl-csum-segmentation'));

  const parts = [`${vx.name} (VXLAN port ${inp.port}): tx-checksum-ip-generic ${state(vx.features['tx-checksum-ip-generic'])}`];
  if (ul) {
    parts.push(ul.features
      ? `underlay ${ul.name} (${ul.driver}): ${OFFLOAD_FEATURES.filter((f) => ul.features![f]).map((f) => `${f} ${featureText(ul.features![f])}`).join(', ')}`
      : `underlay ${ul.name} (${ul.driver}): features unreadable: ${ul.error ?? 'unknown error'}`);
  } else {
    parts.push('underlay: not found (no bound device, no device holding its local address)');
  }
  if (known) parts.push(known);
  else if (emulated) parts.push(emulated);
  parts.push(errorsText(inp.errors));

  let severity: Severity;
  if (vxOn) {
    severity = 'info';
    if (known) severity = raise(severity);
    if (past) severity = raise(severity);
    if (rising) severity = 'critical';
    parts.push(rising
      ? 'packets with bad checksums are arriving now, and this device leaves its inner checksums to the NIC below'
      : past
        ? 'checksum errors have been counted, and this device leaves its inner checksums to the NIC below'
        : 'the inner checksum is left to the NIC below: fine while Udp InCsumErrors stays flat on every node');
  } else if (rising || past) {
    severity = rising ? 'warning' : 'info';
    parts.push(`${vx.name} computes its checksums itself: the bad packets ${rising ? 'arriving here' : 'counted here'} come from a peer whose offload is on, or from NAT of the outer header (see the nat check; run csumwatch doctor on the peers)`);
  } else if (known && tunnelGso) {
    severity = 'info';
    parts.push(`${vx.name} computes its checksums itself; ${ul!.name} still segments tunnel packets`);
  } else {
    return [];
  }
  return [{ check: 'offload', severity, evidence: parts.join('; '), remediation: remedy(vx.name, vxOn, ul, tunnelGso && known !== undefined) }];
}

function state(f: Feature | undefined): string {
  return f ? featureText(f) : 'absent';
}

function errorsText(e: CsumErrors): string {
  if (e.total === null) return 'Udp InCsumErrors: unreadable';
  if (e.rise === null) return `Udp InCsumErrors: ${e.total} since boot (one reading: rising unknown)`;
  const secs = (e.seconds ?? 0).toFixed(1);
  return e.rise > 0 ? `Udp InCsumErrors rose by ${e.rise} in ${secs} s (${e.total} since boot)` : `Udp InCsumErrors: ${e.total} since boot, no rise in ${secs} s`;
}

/** The command now, then the ways to make it last, the CNI's own first. */
function remedy(vx: string, vxOn: boolean, ul: DeviceOffload | null, nicTunnel: boolean): string {
  const steps: string[] = [];
  const nic = nicTunnel && ul ? `ethtool -K ${ul.name} tx-udp_tnl-segmentation off tx-udp_tnl-csum-segmentation off` : null;
  if (!vxOn) {
    if (nic && ul) {
      steps.push(`on the NIC: ${nic}`);
      steps.push(`persistent with NetworkManager: nmcli connection modify <connection of ${ul.name}> ethtool.feature-tx-udp_tnl-segmentation off ethtool.feature-tx-udp_tnl-csum-segmentation off`);
    }
    steps.push('find the sender: run csumwatch doctor on the peers, and csumwatch agent to see which VTEP sends the bad packets (csumwatch_vtep_packets_total{result="bad"})');
    return steps.join('; ');
  }
  steps.push(`now: ethtool -K ${vx} tx-checksum-ip-generic off (lost when the device is recreated or the node reboots)`);
  if (nic) steps.push(`and on the NIC: ${nic}`);
  if (vx === 'vxlan.calico') {
    steps.push('persistent with Calico: kubectl patch felixconfiguration default --type merge -p \'{"spec":{"featureDetectOverride":"ChecksumOffloadBroken=true"}}\' (or FELIX_FEATUREDETECTOVERRIDE=ChecksumOffloadBroken=true on calico-node): Felix then keeps offload off on vxlan.calico');
  } else {
    const who = /^flannel\.\d+$/.test(vx) ? `flannel recreates ${vx} at every start, so` : 'for a device the CNI recreates,';
    steps.push(`persistent: ${who} a udev rule, /etc/udev/rules.d/90-vxlan-csum.rules: ACTION=="add", SUBSYSTEM=="net", KERNEL=="${vx}", RUN+="/usr/sbin/ethtool -K ${vx} tx-checksum-ip-generic off"`);
  }
  steps.push(`or with systemd-networkd/udev: /etc/systemd/network/10-${vx}.link with [Match] OriginalName=${vx} and [Link] TransmitChecksumOffload=false`);
  if (ul) steps.push(`or with NetworkManager, on the NIC's connection: nmcli connection modify <connection of ${ul.name}> ethtool.feature-tx-checksum-ip-generic off${nic ? ' ethtool.feature-tx-udp_tnl-segmentation off ethtool.feature-tx-udp_tnl-csum-segmentation off' : ''}`);
  return steps.join('; ');
}
