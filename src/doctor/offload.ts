// Transmit checksum offload on a UDP tunnel device (VXLAN or Geneve) and its underlay.
//
// With tx-checksum-ip-generic on the tunnel device, the kernel leaves the inner UDP/TCP checksum
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
//
// Geneve (RFC 8926; OVN-Kubernetes, OpenShift's default, and Antrea over Open vSwitch, Cilium on
// request) goes the same way through the kernel (geneve_xmit → udp_tunnel_xmit_skb), and the
// same vmxnet3 failure hits it: OpenShift turns vmxnet3's tx checksum offload off for it. With the
// NIC's own transmit checksum offload off, the kernel completes the checksum before the NIC
// (validate_xmit_skb): that, or the CNI's own switch, is a mitigation of the NIC's failure, and a
// vmxnet3 NIC then raises nothing. It is not one of NAT: the lab's NAT machine loses queries with
// its eth0's offload off (test/fixtures/node/nat-offload), so the finding itself stays.

import { Feature, Features, featureText } from '../node/ethtool';
import { Cni } from './cni';
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
  /** The tunnel device (VXLAN, or Geneve with encap 'Geneve'). */
  vxlan: DeviceOffload;
  /** Its UDP port, for the evidence. */
  port: number;
  underlay: DeviceOffload | null;
  errors: CsumErrors;
  /** 'VXLAN' (default) or 'Geneve'. */
  encap?: 'VXLAN' | 'Geneve';
  /** The CNI that made the device (cni.ts), for its own fix. */
  cni?: Cni | null;
  /** How the underlay was found, when not by binding (e.g. "port of br-ex, which the route to X leaves by"). */
  underlayNote?: string;
  /** Why no underlay was found, when it was not. */
  underlayMissing?: string;
  /**
   * Something on the path completes the inner checksums before the NIC (the NIC's own transmit
   * checksum offload off, the CNI's switch): a clause saying what. The NIC's driver then raises
   * nothing; the finding stays, as the device still leaves its checksums to what follows it.
   */
  mitigation?: string | null;
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
  const encap = inp.encap ?? 'VXLAN';
  const vxOn = on(vx.features, 'tx-checksum-ip-generic');
  const mitigation = vxOn ? inp.mitigation ?? null : null;
  const known = ul ? KNOWN_BAD_DRIVERS[ul.driver] : undefined;
  const emulated = ul ? EMULATED_DRIVERS[ul.driver] : undefined;
  const rising = (inp.errors.rise ?? 0) > 0;
  const past = (inp.errors.total ?? 0) > 0;
  const tunnelGso = ul !== null && (on(ul.features, 'tx-udp_tnl-segmentation') || on(ul.features, 'tx-udp_tnl-csum-segmentation'));

  const parts = [`${vx.name} (${encap} port ${inp.port}): tx-checksum-ip-generic ${state(vx.features['tx-checksum-ip-generic'])}`];
  if (ul) {
    const head = `underlay ${ul.name} (${ul.driver}${inp.underlayNote ? `, ${inp.underlayNote}` : ''})`;
    parts.push(ul.features
      ? `${head}: ${OFFLOAD_FEATURES.filter((f) => ul.features![f]).map((f) => `${f} ${featureText(ul.features![f])}`).join(', ')}`
      : `${head}: features unreadable: ${ul.error ?? 'unknown error'}`);
  } else {
    parts.push(`underlay: not found (${inp.underlayMissing ?? 'no bound device, no device holding its local address'})`);
  }
  if (mitigation !== null) parts.push(mitigation);
  if (known && mitigation === null) parts.push(known);
  else if (emulated) parts.push(emulated);
  parts.push(errorsText(inp.errors));

  let severity: Severity;
  if (vxOn) {
    severity = 'info';
    // The NIC's failure needs the NIC to be handed the checksum; with it completed before, the
    // driver is no evidence (NAT of the outer header still is: the nat check).
    if (known && mitigation === null) severity = raise(severity);
    if (past) severity = raise(severity);
    if (rising) severity = 'critical';
    parts.push(rising
      ? 'packets with bad checksums are arriving now, and this device leaves its inner checksums to the NIC below'
      : past
        ? 'checksum errors have been counted, and this device leaves its inner checksums to the NIC below'
        : mitigation === null
          ? 'the inner checksum is left to the NIC below: fine while Udp InCsumErrors stays flat on every node'
          : 'this device still leaves its inner checksums to what follows it: fine while Udp InCsumErrors stays flat on every node');
  } else if (rising || past) {
    severity = rising ? 'warning' : 'info';
    parts.push(`${vx.name} computes its checksums itself: the bad packets ${rising ? 'arriving here' : 'counted here'} come from a peer whose offload is on, or from NAT of the outer header (see the nat check; run csumwatch doctor on the peers)`);
  } else if (known && tunnelGso) {
    severity = 'info';
    parts.push(`${vx.name} computes its checksums itself; ${ul!.name} still segments tunnel packets`);
  } else {
    return [];
  }
  return [{ check: 'offload', severity, evidence: parts.join('; '), remediation: remedy(vx.name, vxOn, ul, tunnelGso && known !== undefined, encap, inp.cni ?? null) }];
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
function remedy(vx: string, vxOn: boolean, ul: DeviceOffload | null, nicTunnel: boolean, encap: 'VXLAN' | 'Geneve', cni: Cni | null): string {
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
  const udev = `a udev rule, /etc/udev/rules.d/90-${encap.toLowerCase()}-csum.rules: ACTION=="add", SUBSYSTEM=="net", KERNEL=="${vx}", RUN+="/usr/sbin/ethtool -K ${vx} tx-checksum-ip-generic off"`;
  if (vx === 'vxlan.calico') {
    steps.push('persistent with Calico: kubectl patch felixconfiguration default --type merge -p \'{"spec":{"featureDetectOverride":"ChecksumOffloadBroken=true"}}\' (or FELIX_FEATUREDETECTOVERRIDE=ChecksumOffloadBroken=true on calico-node): Felix then keeps offload off on vxlan.calico');
  } else if (cni === 'antrea') {
    steps.push(`persistent with Antrea: disableTXChecksumOffload: true in antrea-agent.conf (ConfigMap antrea-config, or the Helm value disableTXChecksumOffload=true), then restart the antrea-agent Pods: Antrea (1.7 and later, antrea#3832) turns transmit checksum offload off on the Pods' interfaces, so no checksum is left to the NIC, and on antrea-gw0 too since antrea#6843${nicTunnel && ul ? `, and disableUdpTunnelOffload: true in the same file turns UDP tunnel offload off on ${ul.name}` : ''}`);
    steps.push(`or, for ${vx} alone: ${udev}`);
  } else if (cni === 'ovn-kubernetes') {
    if (ul?.driver === 'vmxnet3') {
      steps.push(`or as OpenShift does on vSphere, where its node configuration turns transmit checksum offload off on vmxnet3 NICs (openshift/machine-config-operator#2734, OpenShift bug 1987108): ethtool -K ${ul.name} tx-checksum-ip-generic off (with ${ul.name}'s on, that is not in effect on this node)`);
    }
    steps.push(`persistent: Open vSwitch creates ${vx} again when its port is added (ovs-vswitchd start, reboot), so ${udev} (on OpenShift, as a file of a MachineConfig)`);
  } else if (cni === 'cilium') {
    steps.push(`persistent: cilium-agent creates ${vx} when it starts, so ${udev}`);
  } else {
    const who = /^flannel\.\d+$/.test(vx) ? `flannel recreates ${vx} at every start, so` : 'for a device the CNI recreates,';
    steps.push(`persistent: ${who} ${udev}`);
  }
  steps.push(`or with systemd-networkd/udev: /etc/systemd/network/10-${vx}.link with [Match] OriginalName=${vx} and [Link] TransmitChecksumOffload=false`);
  if (ul) steps.push(`or with NetworkManager, on the NIC's connection: nmcli connection modify <connection of ${ul.name}> ethtool.feature-tx-checksum-ip-generic off${nic ? ' ethtool.feature-tx-udp_tnl-segmentation off ethtool.feature-tx-udp_tnl-csum-segmentation off' : ''}`);
  return steps.join('; ');
}
