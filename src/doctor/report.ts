// A doctor report for people (toText) and for scripts (toJson: {findings, interfaces, offload,
// counters}).

import { DoctorReport } from './run';
import { Finding } from './finding';

const WIDTH = 100;

export function toJson(r: DoctorReport): object {
  return {
    findings: r.findings,
    interfaces: r.interfaces,
    offload: r.offload.map((o) => ({ iface: o.iface, feature: o.feature, enabled: o.enabled, fixed: o.fixed })),
    counters: r.counters,
  };
}

export function toText(r: DoctorReport): string {
  const lines: string[] = [];
  const n = (s: Finding['severity']) => r.findings.filter((f) => f.severity === s).length;
  const vx = r.interfaces.filter((i) => i.role === 'vxlan').map((i) => i.name);
  const gv = r.interfaces.filter((i) => i.role === 'geneve').map((i) => i.name);
  lines.push(`csumwatch doctor: ${n('critical')} critical, ${n('warning')} warning, ${n('info')} info; VXLAN devices: ${vx.length > 0 ? vx.join(', ') : 'none'}` +
    (gv.length > 0 ? `; Geneve devices: ${gv.join(', ')}` : ''));
  lines.push('');
  if (r.findings.length === 0) lines.push('no findings: nothing csumwatch checks is wrong on this node', '');
  for (const f of r.findings) {
    lines.push(`${f.severity.toUpperCase()} ${f.check}`);
    lines.push(...wrap(f.evidence, '  ', '  '));
    const steps = f.remediation.split('; ');
    lines.push(...wrap(steps[0], '  fix: ', '       '));
    for (const s of steps.slice(1)) lines.push(...wrap(s, '       ', '         '));
    lines.push('');
  }
  if (r.interfaces.length > 0) {
    lines.push('interfaces (name, kind, driver, MTU, state)');
    const w = Math.max(...r.interfaces.map((i) => i.name.length));
    for (const i of r.interfaces) {
      const head = `  ${i.name.padEnd(w)}  ${i.kind.padEnd(8)} ${i.driver.padEnd(9)} mtu ${String(i.mtu).padEnd(5)} ${i.up ? 'up  ' : 'down'}`;
      const v = i.vxlan;
      const g = i.geneve;
      const under = v && v.underlay !== v.link ? `, underlay ${v.underlay ?? 'not found'}` : '';
      lines.push(v
        ? `${head}  VNI ${v.vni} port ${v.port}${v.local ? ` local ${v.local}` : ''}${v.link ? ` dev ${v.link}` : ''}${under}`
        : g
          ? `${head}  Geneve ${g.external ? 'external' : `VNI ${g.vni}`} port ${g.port}${g.remote ? ` remote ${g.remote}` : ''}, underlay ${g.underlay ?? 'not found'}`
          : `${head}  underlay of ${i.underlayOf.join(', ')}`);
    }
    lines.push('');
    lines.push('offload (ethtool -k)');
    for (const i of r.interfaces) {
      const fs = r.offload.filter((o) => o.iface === i.name);
      const items = fs.length === 0 ? ['unreadable'] : fs.map((o, k) => `${o.feature} ${o.enabled ? 'on' : 'off'}${o.fixed ? ' [fixed]' : ''}${k < fs.length - 1 ? ',' : ''}`);
      lines.push(...wrap(items, `  ${i.name.padEnd(w)}  `, ' '.repeat(w + 4)));
    }
    lines.push('');
  }
  if (r.counters) lines.push(`Udp InCsumErrors ${r.counters.udp}, Udp6 InCsumErrors ${r.counters.udp6} (since boot, this network namespace)`);
  return lines.join('\n') + '\n';
}

/**
 * Words of text (or items, each kept whole) in lines of at most WIDTH columns, the first line
 * after `first`, the rest after `rest`.
 */
function wrap(text: string | string[], first: string, rest: string): string[] {
  const out: string[] = [];
  let line = first;
  let empty = true;
  for (const word of typeof text === 'string' ? text.split(/\s+/) : text) {
    if (!empty && line.length + 1 + word.length > WIDTH) {
      out.push(line);
      line = rest;
      empty = true;
    }
    line += (empty ? '' : ' ') + word;
    empty = false;
  }
  out.push(line);
  return out;
}
