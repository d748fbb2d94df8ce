// Which CNI made a tunnel device, told from the device names it leaves on the node, so that a
// finding can name that CNI's own setting for the fix:
//   vxlan.calico                                  Calico (Felix)
//   flannel.N                                     flannel (N the VNI, 1 by default)
//   cilium_vxlan, cilium_geneve (cilium_host)     Cilium
//   genev_sys_PORT with antrea-gw0                Antrea (its OVS bridge is also called br-int)
//   genev_sys_PORT with ovn-k8s-mp0               OVN-Kubernetes (OpenShift's default network)
// Open vSwitch names its kernel tunnel devices genev_sys_PORT (and vxlan_sys_PORT) whichever
// CNI drives it, so for those the other devices decide. A name that fits none is no CNI: the
// findings then give the CNI-independent fixes only.

import { NetInterface } from '../node/interfaces';

export type Cni = 'calico' | 'flannel' | 'cilium' | 'antrea' | 'ovn-kubernetes';

export const CNI_NAMES: Readonly<Record<Cni, string>> = {
  calico: 'Calico',
  flannel: 'flannel',
  cilium: 'Cilium',
  antrea: 'Antrea',
  'ovn-kubernetes': 'OVN-Kubernetes',
};

/** The CNI that made tunnel device dev, or null when its name and its neighbours' do not say. */
export function cniOf(dev: NetInterface, ifs: readonly NetInterface[]): Cni | null {
  const n = dev.name;
  if (n === 'vxlan.calico') return 'calico';
  if (/^flannel\.\d+$/.test(n)) return 'flannel';
  if (n === 'cilium_vxlan' || n === 'cilium_geneve') return 'cilium';
  if (/^(genev|vxlan)_sys_\d+$/.test(n)) {
    const has = (name: string) => ifs.some((i) => i.name === name);
    if (has('antrea-gw0')) return 'antrea';
    if (has('ovn-k8s-mp0')) return 'ovn-kubernetes';
  }
  return null;
}
