// deploy/ as the tests read it: what `kubectl kustomize` renders for an overlay (deploy/ itself by
// default, the plain overlay `kubectl apply -k deploy/` installs), the agent's container in the
// DaemonSet, and running the image's staged agent in a lab node the way the DaemonSet runs it
// (its args, its read-only root filesystem, its hostPath mounts, exactly its capabilities).

import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { isAbsolute, join, relative } from 'node:path';
import YAML from 'yaml';
import type { Test } from 'tap';
import { DEFAULT_CONFIG } from '../../src/lab/config';
import type { Lab } from '../../src/lab/lab';
import { metric, waitFor } from './agent';

export const ROOT = join(__dirname, '..', '..', '..');
export const DEPLOY = join(ROOT, 'deploy');

/** The ready-made entry points under deploy/ (the top-level one is the plain overlay's). */
export const OVERLAYS = ['.', 'overlays/kube-prometheus-stack', 'overlays/plain'];

// Kubernetes objects are read as plain JSON: the tests check fields by name.
/* eslint-disable @typescript-eslint/no-explicit-any */
export type Obj = Record<string, any>;

export interface Kustomization {
  namespace?: string;
  resources?: string[];
  components?: string[];
  configMapGenerator?: Array<{ name: string; files?: string[]; literals?: string[]; options?: { disableNameSuffixHash?: boolean; labels?: Record<string, string>; annotations?: Record<string, string> } }>;
  images?: Array<{ name: string; newName?: string; newTag?: string }>;
  labels?: Array<{ pairs: Record<string, string> }>;
}

/** deploy/DIR/kustomization.yaml (default: the base). */
export function kustomization(dir = 'base'): Kustomization {
  return YAML.parse(fs.readFileSync(join(DEPLOY, dir, 'kustomization.yaml'), 'utf8')) as Kustomization;
}

const rendered = new Map<string, Obj[]>();

/**
 * `kubectl kustomize DIR` (relative to deploy/, or absolute), every document; cached per directory.
 * Throws with kubectl's message when it cannot render.
 */
export function render(dir = '.'): Obj[] {
  const at = isAbsolute(dir) ? dir : join(DEPLOY, dir);
  const hit = rendered.get(at);
  if (hit) return hit;
  const r = spawnSync('kubectl', ['kustomize', at], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`kubectl kustomize ${dir}: ${r.error?.message ?? r.stderr.trim()}`);
  const objs = YAML.parseAllDocuments(r.stdout).map((d) => d.toJS() as Obj).filter((o) => o);
  rendered.set(at, objs);
  return objs;
}

/**
 * Renders deploy/base with the given components (names under deploy/components/, in order),
 * through a kustomization written to a scratch directory: what a user's own overlay does.
 */
export function renderWith(components: string[]): Obj[] {
  const dir = fs.mkdtempSync(join(os.tmpdir(), 'csw-kust-'));
  try {
    // kustomize takes no absolute path for a kustomization it includes.
    fs.writeFileSync(join(dir, 'kustomization.yaml'), YAML.stringify({
      apiVersion: 'kustomize.config.k8s.io/v1beta1',
      kind: 'Kustomization',
      resources: [relative(dir, join(DEPLOY, 'base'))],
      components: components.map((c) => relative(dir, join(DEPLOY, 'components', c))),
    }));
    return render(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Every object the overlay renders. */
export function resources(dir = '.'): Obj[] {
  return render(dir);
}

export function resource(kind: string, name = 'csumwatch', objs: Obj[] = render()): Obj {
  const found = objs.filter((o) => o.kind === kind && o.metadata?.name === name);
  if (found.length !== 1) throw new Error(`deploy/: ${found.length} ${kind} named ${name}`);
  return found[0];
}

/** The DaemonSet's agent container and the pod's volumes. */
export function agentPod(objs: Obj[] = render()): { container: Obj; volumes: Obj[]; spec: Obj } {
  const spec = resource('DaemonSet', 'csumwatch', objs).spec.template.spec;
  const container = (spec.containers as Obj[]).find((c) => c.name === 'agent');
  if (!container) throw new Error('deploy/base/daemonset.yaml: no container named agent');
  return { container, volumes: spec.volumes ?? [], spec };
}

/** The capabilities the DaemonSet adds, lower case as setpriv names them (net_raw, bpf, ...). */
export function addedCapabilities(objs: Obj[] = render()): string[] {
  return (agentPod(objs).container.securityContext.capabilities.add as string[]).map((c) => c.toLowerCase());
}

/** scripts/build-image.sh DEST, as the Dockerfile's build stage runs it; throws with its output on failure. */
export function buildImage(dest: string): void {
  const r = spawnSync('bash', [join(ROOT, 'scripts', 'build-image.sh'), dest], { encoding: 'utf8', timeout: 10 * 60_000 });
  if (r.status !== 0) throw new Error(`scripts/build-image.sh failed (${r.status ?? r.signal}): ${r.stdout}${r.stderr}`);
}

/**
 * Starts the staged image's agent in namespace ns as the DaemonSet of `objs` (default: what
 * `kubectl apply -k deploy/` installs) runs it: its args, with its hostPath volumes bound read-only
 * at their mountPath as the kubelet would (mounts under /host go under a scratch directory instead,
 * and --host-root follows), the root filesystem (and /run) read-only, UID 0 with the capability
 * bounding set cut to `caps` (default: the DaemonSet's) and no new privileges. stdout and stderr go
 * to logFile.
 */
export function startContained(ns: string, stage: string, scratch: string, logFile: string, procs: ChildProcess[], caps?: string[], objs: Obj[] = render()): ChildProcess {
  const { container, volumes } = agentPod(objs);
  caps ??= addedCapabilities(objs);
  const hostRoot = join(scratch, 'host');
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const steps: string[] = [];
  for (const m of container.volumeMounts as Obj[]) {
    const v = volumes.find((x) => x.name === m.name);
    if (!v) throw new Error(`volumeMount ${m.name} has no volume`);
    if (!v.hostPath) throw new Error(`volume ${v.name}: only hostPath volumes are emulated`);
    const target = (m.mountPath as string).startsWith('/host/') ? join(scratch, m.mountPath) : m.mountPath;
    let source = v.hostPath.path as string;
    // The kubelet's hostPath type checks (stat follows links, as its checks do).
    const st = fs.statSync(source, { throwIfNoEntry: false });
    switch (v.hostPath.type ?? '') {
      case 'Directory':
      case 'File':
        if (!st || st.isDirectory() !== (v.hostPath.type === 'Directory')) throw new Error(`volume ${v.name}: ${source} is not a ${v.hostPath.type.toLowerCase()}: the kubelet would not start the pod`);
        break;
      case 'DirectoryOrCreate':
        fs.mkdirSync(source, { recursive: true });
        break;
      case 'FileOrCreate':
        // The kubelet creates it empty; the container sees an empty file, which is what this binds
        // (a scratch file, so that the test writes nothing to this machine's /var/lib).
        if (!st) {
          source = join(scratch, 'created', v.name);
          fs.mkdirSync(join(scratch, 'created'), { recursive: true });
          fs.writeFileSync(source, '');
        }
        break;
      default:
        throw new Error(`volume ${v.name}: hostPath type ${JSON.stringify(v.hostPath.type)} is not emulated`);
    }
    if (fs.statSync(source).isDirectory()) {
      fs.mkdirSync(target, { recursive: true });
    } else {
      fs.mkdirSync(join(target, '..'), { recursive: true });
      fs.writeFileSync(target, '');
    }
    steps.push(`mount --bind${m.readOnly ? ' -o ro' : ''} ${q(source)} ${q(target)}`);
  }
  if (container.securityContext.readOnlyRootFilesystem) steps.push('mount -o remount,bind,ro /', '{ ! mountpoint -q /run || mount -o remount,bind,ro /run; }');
  const args = (container.args as string[]).map((a) => a.replace(/^--host-root=\/host$/, `--host-root=${hostRoot}`));
  const bounding = ['-all', ...caps.map((c) => `+${c}`)].join(',');
  // The container's environment: the image's (Dockerfile ENV) and the manifest's, nothing of this
  // process's (tap adds NODE_OPTIONS to whatever it spawns, which would load its hooks into the
  // agent), hence env -i inside the namespace.
  const env: Record<string, string> = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', NODE_ENV: 'production' };
  for (const e of (container.env ?? []) as Obj[]) env[e.name] = e.value ?? (e.valueFrom?.fieldRef?.fieldPath === 'spec.nodeName' ? ns : '');
  const argv = ['env', '-i', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), 'setpriv', '--bounding-set', bounding, '--inh-caps', '-all', '--no-new-privs', '--', process.execPath, join(stage, 'bin', 'csumwatch'), ...args];
  const cmd = `${steps.join(' && ')} && exec ${argv.map(q).join(' ')}`;
  const out = fs.openSync(logFile, 'w');
  const proc = spawn('ip', ['netns', 'exec', ns, 'unshare', '--mount', '--propagation', 'private', '--', 'sh', '-c', cmd], { stdio: ['ignore', out, out] });
  fs.closeSync(out);
  procs.push(proc);
  return proc;
}

/**
 * `podman run` arguments that run the agent's container as deploy/daemonset.yaml describes it, in
 * namespace ns for its host network: its user, no new privileges, its capabilities (all dropped
 * but those added), a read-only root filesystem with nothing writable added (podman would mount
 * tmpfs on /run and /tmp; the kubelet does not), its memory limit, its hostPath volumes, its env
 * (NODE_NAME = ns) and its args. seccomp: RuntimeDefault is podman's own default profile unless
 * `seccomp` names another. Two settings are this machine's, not the manifest's: runc (crun 1.8,
 * Debian 12's, refuses this kernel's hybrid cgroup hierarchy: "cgroups in hybrid mode not
 * supported, drop all controllers from cgroupv2"), and rlimits no higher than podman's own (it
 * asks for 1048576 open files; without CAP_SYS_RESOURCE, which this sandbox's bounding set lacks,
 * runc cannot raise past the hard limit it inherits: "error setting rlimit type 7: operation not
 * permitted").
 */
export function podmanRunArgs(ns: string, image: string, name: string, seccomp?: string): string[] {
  const { container, volumes, spec } = agentPod();
  const sc = container.securityContext as Obj;
  const args = ['run', '-d', '--name', name, '--runtime', 'runc', '--network', `ns:/run/netns/${ns}`];
  if (!spec.hostNetwork) throw new Error('deploy/daemonset.yaml: the agent must run on the host network');
  args.push('--user', `${sc.runAsUser}:${sc.runAsGroup}`);
  if (sc.privileged) throw new Error('deploy/daemonset.yaml: privileged');
  if (sc.allowPrivilegeEscalation === false) args.push('--security-opt', 'no-new-privileges');
  if (sc.readOnlyRootFilesystem) args.push('--read-only', '--read-only-tmpfs=false');
  args.push(...(sc.capabilities.drop as string[]).map((c) => `--cap-drop=${c.toLowerCase()}`));
  args.push(...(sc.capabilities.add as string[]).map((c) => `--cap-add=${c.toLowerCase()}`));
  if (sc.seccompProfile?.type !== 'RuntimeDefault') throw new Error('deploy/daemonset.yaml: seccomp is not RuntimeDefault');
  if (seccomp) args.push('--security-opt', `seccomp=${seccomp}`);
  const mem = /^(\d+)Mi$/.exec(container.resources?.limits?.memory ?? '');
  if (mem) args.push('--memory', `${mem[1]}m`);
  const limits = fs.readFileSync('/proc/self/limits', 'utf8');
  const hard = (what: string) => Number(new RegExp(`^${what}\\s+\\S+\\s+(\\d+)`, 'm').exec(limits)?.[1] ?? 1024);
  // conmon runs with RLIMIT_NPROC 32768 (podman 4.3), the most runc can then set.
  const nproc = Math.min(hard('Max processes'), 32768);
  args.push('--ulimit', `nofile=${hard('Max open files')}:${hard('Max open files')}`, '--ulimit', `nproc=${nproc}:${nproc}`);
  for (const m of container.volumeMounts as Obj[]) {
    const v = volumes.find((x) => x.name === m.name);
    if (!v?.hostPath) throw new Error(`volume ${m.name}: only hostPath volumes are run`);
    let source = v.hostPath.path as string;
    if (v.hostPath.type === 'DirectoryOrCreate') fs.mkdirSync(source, { recursive: true });
    if (v.hostPath.type === 'FileOrCreate' && !fs.existsSync(source)) {
      // The kubelet creates it empty; an empty scratch file stands for it, so that the test
      // writes nothing to this machine's /var/lib.
      source = join(fs.mkdtempSync(join(os.tmpdir(), 'csw-podman-')), v.name);
      fs.writeFileSync(source, '');
    }
    args.push('-v', `${source}:${m.mountPath}${m.readOnly ? ':ro' : ''}`);
  }
  for (const e of (container.env ?? []) as Obj[]) args.push('-e', `${e.name}=${e.value ?? (e.valueFrom?.fieldRef?.fieldPath === 'spec.nodeName' ? ns : '')}`);
  args.push(image, ...(container.args as string[]));
  return args;
}

/**
 * The agent on the lab's node2, read through get(path), against the ground truth: the injector
 * damages the inner UDP checksum of about 30% of 200 queries to node2's DNS; dnsperf must lose
 * exactly those, and the agent count exactly those bad on eth0 and as the kernel's udp_csum drops.
 */
export function checkInjectedFault(t: Test, lab: Lab, get: (path: string) => { status: number; body: string }, prefix: string): void {
  const inj = lab.injector(1);
  const before = inj.stats().damagedTotal;
  inj.configure({ mode: 'inner-udp', probability: 0.3, vxlanPorts: [DEFAULT_CONFIG.port], innerPort: 53, direction: 'to' });
  const perf = lab.dnsperf({ queries: 200, qps: 2000, prefix });
  inj.configure({ mode: 'off', probability: 1, vxlanPorts: [DEFAULT_CONFIG.port], innerPort: 53, direction: 'to' });
  const damaged = inj.stats().damagedTotal - before;
  t.ok(damaged > 0 && perf.lost === damaged, `the injector damaged ${damaged} queries and dnsperf lost them`);
  const m = waitFor('the damaged queries in the metrics', () => {
    const body = get('/metrics').body;
    return metric(body, 'csumwatch_kernel_drops_total', { reason: 'udp_csum' }) >= damaged ? body : undefined;
  });
  t.equal(metric(m, 'csumwatch_checksums_total', { iface: 'eth0', layer: 'vxlan.udp', result: 'bad' }), damaged, 'bad inner UDP checksums on eth0 = injector');
  t.equal(metric(m, 'csumwatch_kernel_drops_total', { reason: 'udp_csum', proto: 'udp' }), damaged, 'kernel udp_csum drops = injector');
}
