// deploy/ without a cluster: what `kubectl apply -k` would send for each ready-made entry point
// (deploy/, deploy/overlays/kube-prometheus-stack, deploy/overlays/plain), rendered by `kubectl
// kustomize` and read the way the API server reads it. Core objects are checked field by field
// against @kubernetes/client-node's models (generated from the Kubernetes OpenAPI), so a misspelt
// field (`readOnlyRootFileSystem`) fails here rather than being dropped or refused by the cluster;
// then the parts that must agree with each other and with the agent do: the container's args parse
// as the agent's flags, its port is the agent's, the probes hit its endpoints, the Service selects
// the pods, the ServiceMonitor the Service, RBAC grants exactly what attribution needs, the host
// mounts are exactly the files the doctor reads, each component does what it says and nothing
// else, every alert's runbook_url is absolute, opens a runbook that exists and follows the one base
// URL, and the plain Prometheus' scrape job and rule file load. And the Dockerfile's runtime stage
// installs the packages that provide every library the built addons link.

import t from 'tap';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join, relative } from 'node:path';
import * as k8s from '@kubernetes/client-node';

import * as os from 'node:os';
import YAML from 'yaml';

import { DEFAULT_AGENT_CONFIG, loadConfig } from '../../src/agent/config';
import { parseAgentFlags } from '../../src/cli/agent';
import { runDoctor } from '../../src/doctor/run';
import { DoctorInputs, FixtureInputs } from '../../src/doctor/inputs';
import { KUBELET_CONFIG_PATHS } from '../../src/node/kubelet';
import { DNSMASQ_CONF, DNSMASQ_DIR, RESOLVED_UPSTREAM } from '../../src/node/resolv';
import { agentPod, DEPLOY, kustomization, Obj, OVERLAYS, render, renderWith, resource, ROOT } from '../support/deploy';
import { alertNames, ruleGroups, RUNBOOK_BASE } from '../support/rules';

/** Problems of value against a client-node model type ('V1DaemonSet', 'Array<V1Volume>', ...). */
function strict(value: unknown, type: string, at: string, out: string[]): void {
  const inner = /^Array<(.+)>$/.exec(type) ?? /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (type.startsWith('Array<')) {
    if (!Array.isArray(value)) return void out.push(`${at}: expected a list`);
    value.forEach((v, i) => strict(v, inner![1], `${at}[${i}]`, out));
    return;
  }
  if (type.startsWith('{ [key: string]')) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return void out.push(`${at}: expected a map`);
    for (const [k, v] of Object.entries(value)) strict(v, inner![1], `${at}.${k}`, out);
    return;
  }
  switch (type) {
    case 'string':
    case 'Date':
      if (typeof value !== 'string') out.push(`${at}: expected a string, got ${JSON.stringify(value)}`);
      return;
    case 'number':
      if (typeof value !== 'number') out.push(`${at}: expected a number, got ${JSON.stringify(value)}`);
      return;
    case 'boolean':
      if (typeof value !== 'boolean') out.push(`${at}: expected true or false, got ${JSON.stringify(value)}`);
      return;
    case 'IntOrString':
      if (typeof value !== 'string' && typeof value !== 'number') out.push(`${at}: expected a number or a name`);
      return;
    case 'any':
    case 'object':
      return;
  }
  const model = (k8s as unknown as Record<string, { getAttributeTypeMap?: () => Array<{ baseName: string; type: string }> }>)[type];
  if (!model?.getAttributeTypeMap) return void out.push(`${at}: no model ${type} in @kubernetes/client-node`);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return void out.push(`${at}: expected an object (${type})`);
  const fields = new Map(model.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
  for (const [k, v] of Object.entries(value)) {
    const ft = fields.get(k);
    if (ft === undefined) out.push(`${at}.${k}: unknown field of ${type}`);
    else strict(v, ft, `${at}.${k}`, out);
  }
}

const MODELS: Record<string, [string, string]> = {
  Namespace: ['v1', 'V1Namespace'],
  ServiceAccount: ['v1', 'V1ServiceAccount'],
  Service: ['v1', 'V1Service'],
  ClusterRole: ['rbac.authorization.k8s.io/v1', 'V1ClusterRole'],
  ClusterRoleBinding: ['rbac.authorization.k8s.io/v1', 'V1ClusterRoleBinding'],
  DaemonSet: ['apps/v1', 'V1DaemonSet'],
  ConfigMap: ['v1', 'V1ConfigMap'],
};

const IMAGE = 'ghcr.io/csumwatch/csumwatch:0.1.0';
const CORE_KINDS = ['ClusterRole', 'ClusterRoleBinding', 'ConfigMap', 'DaemonSet', 'Namespace', 'Service', 'ServiceAccount'];
const KPS = 'overlays/kube-prometheus-stack';

t.test('the strict check itself catches a misspelt field, a wrong type and a wrong list', async (t) => {
  const out: string[] = [];
  strict({ spec: { template: { spec: { containers: [{ name: 'a', securityContext: { readOnlyRootFileSystem: true, privileged: 'no' } }], volumes: {} } } } }, 'V1DaemonSet', 'ds', out);
  t.same(out, [
    'ds.spec.template.spec.containers[0].securityContext.readOnlyRootFileSystem: unknown field of V1SecurityContext',
    'ds.spec.template.spec.containers[0].securityContext.privileged: expected true or false, got "no"',
    'ds.spec.template.spec.volumes: expected a list',
  ]);
});

t.test('every entry point renders; every object known, valid, in namespace csumwatch, labelled', async (t) => {
  for (const dir of OVERLAYS) {
    t.test(dir, async (t) => {
      const objs = render(dir);
      const kinds = objs.map((o) => o.kind as string).sort();
      t.same(kinds, dir === KPS ? [...CORE_KINDS, 'PrometheusRule', 'ServiceMonitor'].sort() : CORE_KINDS, 'the objects it installs');
      for (const obj of objs) {
        const at = `${obj.kind} ${obj.metadata?.name}`;
        t.equal(obj.metadata?.name, obj.kind === 'ConfigMap' ? 'csumwatch-dashboard' : 'csumwatch', `${at}: its name`);
        if (!['Namespace', 'ClusterRole', 'ClusterRoleBinding'].includes(obj.kind)) t.equal(obj.metadata?.namespace, 'csumwatch', `${at}: in namespace csumwatch`);
        t.equal(obj.metadata?.labels?.['app.kubernetes.io/part-of'], 'csumwatch', `${at}: part-of csumwatch`);
        t.notOk(obj.metadata?.annotations?.['config.kubernetes.io/local-config'], `${at}: not a local (settings) object`);
        const m = MODELS[obj.kind];
        if (!m) {
          t.equal(obj.apiVersion, 'monitoring.coreos.com/v1', `${at}: a Prometheus Operator resource`);
          t.equal(obj.metadata.labels?.release, 'kube-prometheus-stack', `${at}: labelled for kube-prometheus-stack's selectors`);
          continue;
        }
        t.equal(obj.apiVersion, m[0], `${obj.kind}: apiVersion ${m[0]}`);
        const out: string[] = [];
        strict(obj, m[1], obj.kind, out);
        t.same(out, [], `${at}: every field known and typed`);
      }
    });
  }
  // `kubectl apply -k deploy/` is the plain overlay: it needs no CRD.
  t.same(render('.'), render('overlays/plain'), 'deploy/ renders exactly deploy/overlays/plain');
  t.notOk(render('base').some((o) => o.apiVersion.startsWith('monitoring.coreos.com/')), 'the base has no CRD kind');

  // The dashboard's ConfigMap, as the generator makes it.
  const g = kustomization().configMapGenerator?.find((x) => x.name === 'csumwatch-dashboard');
  t.ok(g, 'the dashboard ConfigMap is generated');
  t.equal(g?.options?.labels?.grafana_dashboard, '1', 'labelled for the Grafana sidecar');
  t.equal(g?.options?.disableNameSuffixHash, true, 'a stable name');
  for (const f of g?.files ?? []) t.doesNotThrow(() => JSON.parse(fs.readFileSync(join(DEPLOY, 'base', f), 'utf8')), `${f} is JSON`);
  const cm = resource('ConfigMap', 'csumwatch-dashboard');
  t.same(Object.keys(cm.data), ['csumwatch.json'], 'the rendered ConfigMap holds the dashboard');
});

t.test('the image: one published reference, set in one place', async (t) => {
  const images = kustomization().images ?? [];
  t.same(images, [{ name: 'csumwatch', newName: 'ghcr.io/csumwatch/csumwatch', newTag: '0.1.0' }], 'deploy/base/kustomization.yaml images:');
  t.equal(agentPod(render('base')).container.image, IMAGE, 'the base renders it');
  for (const dir of OVERLAYS) t.equal(agentPod(render(dir)).container.image, IMAGE, `${dir}: ${IMAGE}`);
  const files = fs.readdirSync(DEPLOY, { recursive: true }).map(String).filter((f) => f.endsWith('.yaml'));
  t.same(files.filter((f) => fs.readFileSync(join(DEPLOY, f), 'utf8').includes('ghcr.io/')), ['base/kustomization.yaml'], 'named nowhere else under deploy/');
  // Another registry, in an overlay of the user's, as docs/install.md says.
  const dir = fs.mkdtempSync(join(os.tmpdir(), 'csw-image-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(join(dir, 'kustomization.yaml'), YAML.stringify({ resources: [relative(dir, join(DEPLOY, KPS))] }));
  const doc = fs.readFileSync(join(ROOT, 'docs', 'install.md'), 'utf8');
  const set = /kustomize edit set image\s+(\S+)=REGISTRY\/csumwatch:0\.1\.0/.exec(doc);
  t.ok(set, 'docs/install.md shows kustomize edit set image');
  const k = YAML.parse(fs.readFileSync(join(dir, 'kustomization.yaml'), 'utf8'));
  fs.writeFileSync(join(dir, 'kustomization.yaml'), YAML.stringify({ ...k, images: [{ name: set?.[1], newName: 'registry.example.com/csumwatch', newTag: '0.1.0' }] }));
  t.equal(agentPod(render(dir)).container.image, 'registry.example.com/csumwatch:0.1.0', `images: name ${set?.[1]} moves it`);
});

t.test('the DaemonSet: every node, the node\'s network, least privilege, the agent\'s own flags, port and endpoints', async (t) => {
  const { container, spec, volumes } = agentPod();
  t.equal(spec.hostNetwork, true, 'hostNetwork');
  t.equal(spec.dnsPolicy, 'ClusterFirstWithHostNet', 'the cluster DNS stays in the pod\'s resolv.conf');
  t.same(spec.tolerations, [{ operator: 'Exists' }], 'tolerates every taint');
  t.same(spec.nodeSelector, { 'kubernetes.io/os': 'linux' }, 'Linux nodes only');
  t.equal(spec.priorityClassName, 'system-node-critical', 'not preempted first on the node it watches');
  t.equal(spec.serviceAccountName, resource('ServiceAccount').metadata.name);

  const sc = container.securityContext;
  t.equal(sc.privileged, false, 'not privileged');
  t.equal(sc.allowPrivilegeEscalation, false);
  t.equal(sc.readOnlyRootFilesystem, true);
  t.equal(sc.runAsUser, 0, 'UID 0: without ambient capabilities, the only UID that keeps the added ones');
  t.same(sc.capabilities.drop, ['ALL']);
  t.same([...sc.capabilities.add].sort(), ['BPF', 'NET_RAW', 'PERFMON', 'SYS_RESOURCE'], 'four: not NET_ADMIN (components/conntrack)');

  // The args are the agent's: parsed as `csumwatch agent` parses them.
  t.equal(container.args[0], 'agent');
  const flags = parseAgentFlags(container.args.slice(1));
  const cfg = loadConfig({ flags });
  t.equal(cfg.hostRoot, '/host', '--host-root: where the node\'s files are mounted');
  const port = (container.ports as Obj[]).find((p) => p.name === 'metrics');
  t.equal(port?.containerPort, cfg.listen.port, 'the metrics port is the one the agent listens on');
  t.equal(cfg.listen.host, DEFAULT_AGENT_CONFIG.listen.host);
  t.equal(container.livenessProbe.httpGet.path, '/healthz');
  t.equal(container.readinessProbe.httpGet.path, '/readyz');
  t.equal(container.livenessProbe.httpGet.port, 'metrics');
  t.equal(container.readinessProbe.httpGet.port, 'metrics');
  t.same(container.env.find((e: Obj) => e.name === 'NODE_NAME')?.valueFrom, { fieldRef: { fieldPath: 'spec.nodeName' } }, 'NODE_NAME from the downward API');

  t.ok(container.resources.requests.cpu && container.resources.requests.memory && container.resources.limits.memory, 'requests and a memory limit');
  t.ok(volumes.some((v) => v.hostPath?.path === '/sys/kernel/btf'), 'the kernel\'s BTF is mounted');
});

/** A mount of the node's files: its hostPath, type, and where the agent reads it. */
function hostMounts(objs: Obj[]): Array<{ path: string; type: string; at: string; readOnly: boolean }> {
  const { container, volumes } = agentPod(objs);
  return (container.volumeMounts as Obj[]).map((m) => {
    const v = volumes.find((x) => x.name === m.name);
    return { path: v?.hostPath?.path, type: v?.hostPath?.type, at: m.mountPath, readOnly: m.readOnly === true };
  });
}

/** The node paths (not /proc, /sys) the doctor reads through its inputs on a fixture machine. */
function doctorReads(dir: string): string[] {
  const fx = new FixtureInputs(dir);
  const seen = new Set<string>();
  const spy = new Proxy(fx, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        if (['readFile', 'readLink', 'listDir'].includes(prop as string)) seen.add(args[0] as string);
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  }) as DoctorInputs;
  try {
    runDoctor(spy);
  } catch {
    // A fixture made for one path need not satisfy every check: what was read until then counts.
  }
  return [...seen].filter((p) => !p.startsWith('/proc/') && !p.startsWith('/sys/')).sort();
}

t.test('host mounts: only the files the doctor reads, read-only, none that holds a secret', async (t) => {
  const mounts = hostMounts(render());
  t.same(mounts.map(({ path, type, at }) => ({ path, type, at })), [
    { path: '/sys/kernel/btf', type: 'Directory', at: '/sys/kernel/btf' },
    { path: '/etc/resolv.conf', type: 'File', at: '/host/etc/resolv.conf' },
    { path: '/run/systemd/resolve', type: 'DirectoryOrCreate', at: '/host/run/systemd/resolve' },
    { path: '/var/lib/kubelet/config.yaml', type: 'FileOrCreate', at: '/host/var/lib/kubelet/config.yaml' },
  ], 'the BTF, resolv.conf, systemd-resolved\'s directory, kubeadm\'s kubelet configuration');
  for (const m of mounts) {
    t.ok(m.readOnly, `${m.at}: read-only`);
    if (m.at.startsWith('/host/')) t.equal(m.at, `/host${m.path}`, `${m.path}: at its own path under --host-root`);
  }
  // Nothing that holds a key, a kubeconfig, a token or pods' secrets is in or under a mount.
  const secrets = ['/etc/kubernetes/pki/ca.key', '/etc/kubernetes/admin.conf', '/etc/kubernetes/kubelet.conf', '/var/lib/kubelet/pki/kubelet-client-current.pem',
    '/var/lib/kubelet/pods/x/volumes/kubernetes.io~secret/y', '/etc/shadow', '/etc/ssh/ssh_host_ed25519_key', '/root/.kube/config', '/var/lib/etcd/member'];
  for (const s of secrets) t.notOk(mounts.some((m) => s === m.path || s.startsWith(`${m.path}/`)), `${s} is not mounted`);

  // What the doctor reads, on every machine of test/fixtures/node, plus one whose resolv.conf points
  // at dnsmasq and one without a kubelet configuration (both kubelet paths read).
  const fixtures = join(ROOT, 'test', 'fixtures', 'node');
  const dirs = fs.readdirSync(fixtures).map((d) => join(fixtures, d)).filter((d) => fs.statSync(d).isDirectory() && fs.existsSync(join(d, 'ip-link.json')));
  const scratch = fs.mkdtempSync(join(os.tmpdir(), 'csw-mounts-'));
  t.teardown(() => fs.rmSync(scratch, { recursive: true, force: true }));
  // verbatimSymlinks: the fixture's etc/resolv.conf is a relative link, which must stay inside the copy.
  fs.cpSync(join(fixtures, 'healthy'), join(scratch, 'dnsmasq'), { recursive: true, verbatimSymlinks: true });
  fs.rmSync(join(scratch, 'dnsmasq', 'etc', 'resolv.conf'));
  fs.writeFileSync(join(scratch, 'dnsmasq', 'etc', 'resolv.conf'), 'nameserver 127.0.0.1\n');
  fs.cpSync(join(fixtures, 'healthy'), join(scratch, 'no-kubelet'), { recursive: true, verbatimSymlinks: true });
  fs.rmSync(join(scratch, 'no-kubelet', 'var'), { recursive: true });
  const reads = new Set([...dirs, join(scratch, 'dnsmasq'), join(scratch, 'no-kubelet')].flatMap(doctorReads));
  t.ok(reads.has('/etc/resolv.conf') && reads.has(RESOLVED_UPSTREAM) && reads.has(DNSMASQ_CONF) && KUBELET_CONFIG_PATHS.every((p) => reads.has(p)), `the cases exercise every reader: ${[...reads].join(', ')}`);
  // Read but deliberately not mounted by default: dnsmasq's configuration (a hostPath for a file
  // most nodes lack would create it in /etc) and kubespray's kubelet file (components/kubelet-config-kubespray).
  const unmounted = [DNSMASQ_CONF, DNSMASQ_DIR, KUBELET_CONFIG_PATHS[1]];
  const covered = (p: string, ms: typeof mounts) => ms.some((m) => m.at.startsWith('/host/') && (p === m.path || p.startsWith(`${m.path}/`)));
  for (const p of reads) {
    if (unmounted.some((u) => p === u || p.startsWith(`${u}/`))) t.notOk(covered(p, mounts), `${p}: read, and left unmounted on purpose (docs/install.md)`);
    else t.ok(covered(p, mounts), `${p}: read by the doctor, and mounted`);
  }
  for (const m of mounts.filter((x) => x.at.startsWith('/host/'))) t.ok([...reads].some((p) => p === m.path || p.startsWith(`${m.path}/`)), `${m.path}: mounted because the doctor reads it`);
  t.ok(covered(KUBELET_CONFIG_PATHS[1], hostMounts(renderWith(['kubelet-config-kubespray']))), 'components/kubelet-config-kubespray mounts kubespray\'s path');
  // docs/install.md's patch for a kubelet with another root directory drops that mount, nothing else.
  const doc = fs.readFileSync(join(ROOT, 'docs', 'install.md'), 'utf8');
  const block = /^Drop that mount in your overlay there:\n\n```yaml\n([^]*?)```/m.exec(doc)?.[1] ?? '';
  const user = YAML.parse(block) as Obj;
  t.ok(user?.patches, 'docs/install.md shows the patch');
  const dir = fs.mkdtempSync(join(scratch, 'overlay-'));
  fs.writeFileSync(join(dir, 'kustomization.yaml'), YAML.stringify({ ...user, resources: [relative(dir, join(DEPLOY, 'base'))] }));
  const dropped = render(dir);
  t.same(hostMounts(dropped).map((m) => m.path), mounts.map((m) => m.path).filter((p) => p !== '/var/lib/kubelet/config.yaml'), 'the patch drops the kubelet configuration\'s mount');
  const ds = (objs: Obj[]) => resource('DaemonSet', 'csumwatch', objs).spec.template.spec;
  t.same(ds(dropped).volumes, ds(render('base')).volumes.filter((v: Obj) => v.name !== 'kubelet-config'), 'and its volume, and nothing else');
});

t.test('components: each adds what it says and nothing else', async (t) => {
  const base = render('base');
  const ds = (objs: Obj[]) => resource('DaemonSet', 'csumwatch', objs);
  const without = (o: Obj, f: (x: Obj) => void) => { const c = structuredClone(o); f(c); return c; };

  const ct = renderWith(['conntrack']);
  t.same([...agentPod(ct).container.securityContext.capabilities.add].sort(), ['BPF', 'NET_ADMIN', 'NET_RAW', 'PERFMON', 'SYS_RESOURCE'], 'conntrack: NET_ADMIN added');
  t.same(without(ds(ct), (d) => d.spec.template.spec.containers[0].securityContext.capabilities.add.pop()), ds(base), 'conntrack: and nothing else');

  const ks = renderWith(['kubelet-config-kubespray']);
  t.same(hostMounts(ks).slice(-1), [{ path: '/etc/kubernetes/kubelet-config.yaml', type: 'File', at: '/host/etc/kubernetes/kubelet-config.yaml', readOnly: true }], 'kubelet-config-kubespray: that one file, read-only');
  t.same(without(ds(ks), (d) => { d.spec.template.spec.containers[0].volumeMounts.pop(); d.spec.template.spec.volumes.pop(); }), ds(base), 'kubelet-config-kubespray: and nothing else');

  const plain = render('overlays/plain');
  const ann = ds(plain).spec.template.metadata.annotations;
  t.same(ann, { 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(agentPod(plain).container.ports[0].containerPort), 'prometheus.io/path': '/metrics' }, 'no-operator: the scrape annotations, the agent\'s port');
  t.same(without(ds(plain), (d) => delete d.spec.template.metadata.annotations), ds(base), 'no-operator: and nothing else on the DaemonSet');
  t.same(plain.filter((o) => o.kind !== 'DaemonSet'), base.filter((o) => o.kind !== 'DaemonSet'), 'no-operator: every other object as the base has it');

  const kps = render(KPS);
  t.same(kps.filter((o) => !o.apiVersion.startsWith('monitoring.coreos.com/')), base, 'kube-prometheus-stack: the base unchanged, plus the two operator objects');

  // rbac-proxy, listed after kube-prometheus-stack (whose ServiceMonitor it turns to HTTPS).
  const rp = renderWith(['kube-prometheus-stack', 'rbac-proxy']);
  for (const o of rp.filter((x) => MODELS[x.kind])) {
    const out: string[] = [];
    strict(o, MODELS[o.kind][1], o.kind, out);
    t.same(out, [], `rbac-proxy: ${o.kind} ${o.metadata.name}: every field known and typed`);
  }
  const { container: agent, spec } = agentPod(rp);
  const listen = loadConfig({ flags: parseAgentFlags(agent.args.slice(1)) }).listen;
  t.same(listen, { host: '127.0.0.1', port: 9477 }, 'rbac-proxy: the agent listens on the loopback only');
  t.notOk(agent.ports, 'rbac-proxy: the agent exposes no port');
  for (const p of [agent.livenessProbe, agent.readinessProbe]) t.same([p.httpGet.host, p.httpGet.port], [listen.host, listen.port], `rbac-proxy: the kubelet probes ${p.httpGet.path} on the agent, on the node's loopback`);
  const proxy = (spec.containers as Obj[]).find((c) => c.name === 'kube-rbac-proxy');
  t.equal(proxy?.image, 'quay.io/brancz/kube-rbac-proxy:v0.18.1', 'rbac-proxy: kube-rbac-proxy\'s published image');
  t.ok(proxy?.args.includes(`--upstream=http://${listen.host}:${listen.port}/`), 'rbac-proxy: its upstream is the agent');
  t.ok(proxy?.args.includes('--secure-listen-address=0.0.0.0:9475'), 'rbac-proxy: TLS on the port the agent had');
  t.same(proxy?.ports, [{ name: 'metrics', containerPort: 9475, protocol: 'TCP' }], 'rbac-proxy: it holds the `metrics` port the Service targets');
  t.same([proxy?.securityContext.runAsNonRoot, proxy?.securityContext.capabilities], [true, { drop: ['ALL'] }], 'rbac-proxy: not root, no capability');
  const ep = resource('ServiceMonitor', 'csumwatch', rp).spec.endpoints[0];
  t.same([ep.scheme, ep.bearerTokenFile, ep.port], ['https', '/var/run/secrets/kubernetes.io/serviceaccount/token', 'metrics'], 'rbac-proxy: Prometheus scrapes over TLS with its token');
  t.same(resource('ClusterRole', 'csumwatch-rbac-proxy', rp).rules, [
    { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
    { apiGroups: ['authorization.k8s.io'], resources: ['subjectaccessreviews'], verbs: ['create'] },
  ], 'rbac-proxy: it may ask who a caller is and what it may read, nothing else');
  t.same(resource('ClusterRoleBinding', 'csumwatch-rbac-proxy', rp).subjects, [{ kind: 'ServiceAccount', name: 'csumwatch', namespace: 'csumwatch' }]);
  t.same(resource('ClusterRole', 'csumwatch', rp).rules, resource('ClusterRole', 'csumwatch', base).rules, 'rbac-proxy: the agent\'s own role unchanged');

  // web-config, listed after kube-prometheus-stack: the agent's own TLS and basic auth.
  const wc = renderWith(['kube-prometheus-stack', 'web-config']);
  const wcPod = agentPod(wc);
  const wcPath = loadConfig({ flags: parseAgentFlags(wcPod.container.args.slice(1)) }).webConfig;
  t.equal(wcPath, '/etc/csumwatch/web/web-config.yml', 'web-config: the agent reads --web-config');
  const wcMount = (wcPod.container.volumeMounts as Obj[]).find((m) => wcPath.startsWith(m.mountPath + '/'));
  t.same([wcMount?.readOnly, (wcPod.spec.volumes as Obj[]).find((v) => v.name === wcMount?.name)?.secret?.secretName], [true, 'csumwatch-web-config'], 'web-config: from the Secret csumwatch-web-config, read-only');
  for (const p of [wcPod.container.livenessProbe, wcPod.container.readinessProbe]) t.equal(p.httpGet.scheme, 'HTTPS', `web-config: the kubelet probes ${p.httpGet.path} over HTTPS`);
  t.same(without(ds(wc), (d) => {
    const c = d.spec.template.spec.containers[0];
    c.args.pop();
    c.volumeMounts.pop();
    d.spec.template.spec.volumes.pop();
    delete c.livenessProbe.httpGet.scheme;
    delete c.readinessProbe.httpGet.scheme;
  }), ds(base), 'web-config: and nothing else on the DaemonSet');
  const wcEp = resource('ServiceMonitor', 'csumwatch', wc).spec.endpoints[0];
  t.same([wcEp.scheme, wcEp.basicAuth?.username?.name, wcEp.basicAuth?.password?.key], ['https', 'csumwatch-scrape-auth', 'password'], 'web-config: Prometheus scrapes over TLS with the basic auth user');

  // The release label is overridable: docs/install.md's patch, in an overlay of the user's.
  const doc = fs.readFileSync(join(ROOT, 'docs', 'install.md'), 'utf8');
  const block = /^### kube-prometheus-stack\n[^]*?```yaml\n([^]*?)```/m.exec(doc)?.[1] ?? '';
  const user = YAML.parse(block) as Obj;
  t.ok(user?.patches, 'docs/install.md shows the patch');
  const dir = fs.mkdtempSync(join(os.tmpdir(), 'csw-release-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(join(dir, 'kustomization.yaml'), YAML.stringify({ ...user, resources: [relative(dir, join(DEPLOY, KPS))] }));
  t.same(render(dir).filter((o) => o.apiVersion.startsWith('monitoring.coreos.com/')).map((o) => o.metadata.labels.release), ['prom', 'prom'], 'another release name, as docs/install.md shows');
});

t.test('RBAC: read pods, list nodes, patch nodes/status, create events, nothing else', async (t) => {
  const role = resource('ClusterRole');
  t.same(role.rules, [
    { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] },
    { apiGroups: [''], resources: ['nodes'], verbs: ['list'] },
    { apiGroups: [''], resources: ['nodes/status'], verbs: ['patch'] },
    { apiGroups: [''], resources: ['events'], verbs: ['create'] },
  ], 'read pods, list nodes (to name a peer); its own Node\'s conditions and Events; nothing else');
  const b = resource('ClusterRoleBinding');
  t.same(b.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role.metadata.name });
  t.same(b.subjects, [{ kind: 'ServiceAccount', name: resource('ServiceAccount').metadata.name, namespace: 'csumwatch' }]);
});

t.test('Service and ServiceMonitor: they find the agents, and label series with the node', async (t) => {
  const ds = resource('DaemonSet');
  const svc = resource('Service');
  const podLabels = ds.spec.template.metadata.labels as Record<string, string>;
  t.ok(Object.entries(svc.spec.selector).every(([k, v]) => podLabels[k] === v), 'the Service selects the DaemonSet\'s pods');
  t.same(ds.spec.selector.matchLabels, svc.spec.selector);
  const sp = (svc.spec.ports as Obj[]).find((p) => p.name === 'metrics');
  t.equal(sp?.targetPort, 'metrics', 'the Service targets the container\'s named port');
  t.equal(svc.spec.publishNotReadyAddresses, true, 'a not-ready agent is scraped too (its findings say why)');

  const sm = resource('ServiceMonitor', 'csumwatch', render(KPS));
  t.ok(Object.entries(sm.spec.selector.matchLabels).every(([k, v]) => svc.metadata.labels[k] === v), 'the ServiceMonitor selects the Service');
  const ep = sm.spec.endpoints[0];
  t.equal(ep.port, 'metrics');
  t.equal(ep.path, '/metrics');
  t.same(ep.relabelings.find((r: Obj) => r.targetLabel === 'node'), { sourceLabels: ['__meta_kubernetes_pod_node_name'], targetLabel: 'node', action: 'replace' }, 'node = the pod\'s node');
});

/** alert name → runbook_url of a rendered (or source) PrometheusRule's groups. */
function runbookUrls(groups: Array<{ rules: Obj[] }>): Map<string, string> {
  return new Map(groups.flatMap((g) => g.rules).filter((r) => r.alert).map((r) => [r.alert as string, r.annotations?.runbook_url as string]));
}

/** The base URL set in deploy/rules/kustomization.yaml (the one place). */
function runbookBase(dir = DEPLOY): string {
  const k = YAML.parse(fs.readFileSync(join(dir, 'rules', 'kustomization.yaml'), 'utf8'));
  const lit = (k.configMapGenerator as Obj[]).find((g) => g.name === 'csumwatch-runbooks')?.literals?.find((l: string) => l.startsWith('base='));
  return String(lit).slice('base='.length);
}

t.test('runbook_url: absolute, opens docs/runbooks/<Alert>.md, from one base URL set in one place', async (t) => {
  // The source: the default base, and the delimiter the replacement splits on (/Csumwatch) once.
  t.equal(RUNBOOK_BASE, 'https://github.com/csumwatch/csumwatch/blob/main/docs/runbooks');
  t.equal(runbookBase(), RUNBOOK_BASE, 'deploy/rules/kustomization.yaml sets the project\'s repository as the default');
  for (const [alert, url] of runbookUrls(ruleGroups())) {
    t.match(alert, /^Csumwatch[A-Z]/, `${alert}: starts with Csumwatch`);
    t.equal(url, `${RUNBOOK_BASE}/${alert}.md`, `${alert}: the source links its runbook at the default base`);
    t.equal(url.split('/Csumwatch').length, 2, `${alert}: "/Csumwatch" occurs once in its runbook_url`);
  }

  const rendered = (dir: string) => {
    const objs = render(dir).filter((o) => o.kind === 'PrometheusRule');
    if (objs.length !== 1) throw new Error(`${dir}: ${objs.length} PrometheusRules`);
    return objs[0].spec.groups as Array<{ rules: Obj[] }>;
  };
  const blank = (groups: Array<{ rules: Obj[] }>) => groups.map((g) => ({ ...g, rules: g.rules.map((r) => (r.alert ? { ...r, annotations: { ...r.annotations, runbook_url: '' } } : r)) }));
  for (const dir of [KPS, 'rules']) {
    const urls = runbookUrls(rendered(dir));
    t.same([...urls.keys()].sort(), [...alertNames()].sort(), `${dir}: every alert has one`);
    for (const [alert, url] of urls) {
      t.equal(new URL(url).protocol, 'https:', `${dir} ${alert}: absolute (${url})`);
      t.equal(url, `${RUNBOOK_BASE}/${alert}.md`, `${dir} ${alert}: BASE/<Alert>.md`);
      t.ok(fs.existsSync(join(ROOT, 'docs', 'runbooks', `${alert}.md`)), `${dir} ${alert}: docs/runbooks/${alert}.md exists`);
    }
    t.same(blank(rendered(dir)), blank(ruleGroups()), `${dir}: the rules are the source's, runbook_url aside`);
  }

  // Change the base in the one place, in a copy of deploy/: every link of every entry point follows.
  const copy = fs.mkdtempSync(join(os.tmpdir(), 'csw-runbooks-'));
  t.teardown(() => fs.rmSync(copy, { recursive: true, force: true }));
  fs.cpSync(DEPLOY, copy, { recursive: true });
  const other = 'https://git.example.com/ops/csumwatch/src/tag/v0.1.0/docs/runbooks';
  const kfile = join(copy, 'rules', 'kustomization.yaml');
  const text = fs.readFileSync(kfile, 'utf8');
  t.equal(text.split(RUNBOOK_BASE).length, 2, 'the base is written once in deploy/rules/kustomization.yaml');
  fs.writeFileSync(kfile, text.replace(RUNBOOK_BASE, other));
  t.equal(runbookBase(copy), other);
  for (const dir of [KPS, 'rules']) {
    const objs = render(join(copy, dir)).filter((o) => o.kind === 'PrometheusRule');
    const urls = runbookUrls(objs[0].spec.groups);
    t.same([...urls.entries()], alertNames().map((a) => [a, `${other}/${a}.md`]), `${dir}: every runbook_url follows the new base`);
  }
  // From a remote reference: docs/install.md's replacement in the user's own overlay.
  const doc = fs.readFileSync(join(ROOT, 'docs', 'install.md'), 'utf8');
  const block = /^From a remote reference[^]*?```yaml\n([^]*?)```/m.exec(doc)?.[1] ?? '';
  const user = YAML.parse(block) as Obj;
  t.ok(user?.replacements, 'docs/install.md shows the replacement');
  const mine = fs.mkdtempSync(join(os.tmpdir(), 'csw-runbooks-user-'));
  t.teardown(() => fs.rmSync(mine, { recursive: true, force: true }));
  fs.writeFileSync(join(mine, 'kustomization.yaml'), YAML.stringify({ ...user, resources: [relative(mine, join(DEPLOY, KPS))] }));
  const wiki = String(user.configMapGenerator[0].literals[0]).slice('base='.length);
  const mineObjs = render(mine);
  t.same([...runbookUrls(resource('PrometheusRule', 'csumwatch', mineObjs).spec.groups).entries()], alertNames().map((a) => [a, `${wiki}/${a}.md`]), 'a user overlay moves every runbook_url');
  t.notOk(mineObjs.some((o) => o.kind === 'ConfigMap' && o.metadata.name === 'my-runbooks'), 'and its settings ConfigMap is not applied');
  // The base URL is named nowhere else under deploy/ but the rules' source (its default links).
  const files = fs.readdirSync(DEPLOY, { recursive: true }).map(String).filter((f) => /\.(ya?ml|json)$/.test(f) && fs.readFileSync(join(DEPLOY, f), 'utf8').includes(RUNBOOK_BASE));
  t.same(files.sort(), ['rules/kustomization.yaml', 'rules/prometheusrule.yaml']);
});

t.test('a Prometheus without the Operator: docs/install.md\'s rule file and the scrape job load', async (t) => {
  const dir = fs.mkdtempSync(join(os.tmpdir(), 'csw-plain-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  // The command docs/install.md gives, run as it is written (from the repository's root).
  const doc = fs.readFileSync(join(ROOT, 'docs', 'install.md'), 'utf8');
  const cmd = doc.split('\n').find((l) => l.startsWith('kubectl kustomize deploy/rules |'));
  t.ok(cmd, `docs/install.md gives the command: ${cmd}`);
  const out = join(dir, 'csumwatch.rules.json');
  const r = spawnSync('sh', ['-c', `${cmd} && mv csumwatch.rules.json ${JSON.stringify(out)}`], { cwd: ROOT, encoding: 'utf8' });
  t.equal(r.status, 0, `it runs: ${r.stderr}`);
  const check = spawnSync('promtool', ['check', 'rules', out], { encoding: 'utf8' });
  t.equal(check.status, 0, `promtool check rules: ${check.stdout}${check.stderr}`);
  const groups = JSON.parse(fs.readFileSync(out, 'utf8')).groups;
  t.same(groups, render('rules')[0].spec.groups, 'the rendered PrometheusRule\'s groups, runbook links and all');

  const scrape = YAML.parse(fs.readFileSync(join(DEPLOY, 'components', 'no-operator', 'scrape-config.yaml'), 'utf8')) as Obj[];
  t.equal(scrape.length, 1);
  const job = scrape[0];
  const sm = resource('ServiceMonitor', 'csumwatch', render(KPS)).spec.endpoints[0];
  t.equal(job.job_name, 'csumwatch', 'job="csumwatch", as the rules select');
  t.equal(job.scrape_interval, sm.interval, 'the ServiceMonitor\'s interval (the rules\' windows assume it)');
  t.equal(job.metrics_path, sm.path);
  t.same(job.kubernetes_sd_configs, [{ role: 'pod', namespaces: { names: ['csumwatch'] } }]);
  const rl = job.relabel_configs as Obj[];
  const pod = agentPod(render('overlays/plain'));
  const keepName = rl.find((x) => x.source_labels[0] === '__meta_kubernetes_pod_label_app_kubernetes_io_name');
  t.equal(keepName?.action, 'keep');
  t.equal(keepName?.regex, resource('DaemonSet', 'csumwatch', render('overlays/plain')).spec.template.metadata.labels['app.kubernetes.io/name'], 'keeps the agents\' pods');
  t.same(rl.find((x) => x.source_labels[0] === '__meta_kubernetes_pod_container_port_name'), { source_labels: ['__meta_kubernetes_pod_container_port_name'], regex: pod.container.ports[0].name, action: 'keep' }, 'their metrics port');
  t.same(rl.find((x) => x.target_label === 'node'), { source_labels: ['__meta_kubernetes_pod_node_name'], target_label: 'node', action: 'replace' }, 'node = the pod\'s node, as the ServiceMonitor sets it');
  // promtool check config on a configuration with the job and the rule file. Debian's Prometheus is
  // built without Kubernetes discovery, so where its promtool refuses kubernetes_sd_configs the job
  // is checked with a static target carrying the same metadata labels instead.
  const config = (j: Obj) => YAML.stringify({ global: { scrape_interval: '30s' }, rule_files: [out], scrape_configs: [j] });
  fs.writeFileSync(join(dir, 'prometheus.yml'), config(job));
  let pc = spawnSync('promtool', ['check', 'config', join(dir, 'prometheus.yml')], { encoding: 'utf8' });
  if (pc.status !== 0 && /field kubernetes_sd_configs not found/.test(pc.stdout + pc.stderr)) {
    const { kubernetes_sd_configs: _sd, ...rest } = job;
    fs.writeFileSync(join(dir, 'prometheus.yml'), config({ ...rest, static_configs: [{ targets: ['10.0.0.1:9475'], labels: { __meta_kubernetes_pod_node_name: 'n1' } }] }));
    pc = spawnSync('promtool', ['check', 'config', join(dir, 'prometheus.yml')], { encoding: 'utf8' });
  }
  t.equal(pc.status, 0, `promtool check config: ${pc.stdout}${pc.stderr}`);
});

t.test('Dockerfile: the build stage runs scripts/build-image.sh; the runtime stage has the libraries the addons link', async (t) => {
  const text = fs.readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  const stages = text.split(/^FROM /m).slice(1);
  t.equal(stages.length, 2, 'two stages');
  t.match(stages[0], /^RUN .*bash scripts\/build-image\.sh \/out$/m, 'build stage: the script CI runs');
  t.match(stages[1], /^node:\$\{NODE_MAJOR\}-bookworm-slim$/m, 'runtime: Debian 12 slim with Node');
  const copy = /^COPY --from=build \/out (\S+)$/m.exec(stages[1]);
  t.ok(copy, 'runtime stage copies the staged tree');
  t.match(stages[1], new RegExp(`^ENTRYPOINT \\["${copy?.[1]}/bin/csumwatch"\\]$`, 'm'), 'and runs its bin/csumwatch');
  const apt = /apt-get install -y --no-install-recommends ([^\\&\n]+)/.exec(stages[1]);
  const runtimePkgs = new Set((apt?.[1] ?? '').trim().split(/\s+/));

  // Every library the built addons need, by the Debian package that ships it here (Debian 12,
  // as the image): libc6 is in the base image, the rest must be installed.
  for (const addon of ['csw_pcap.node', 'csw_bpf.node']) {
    const file = join(ROOT, 'dist', 'native', addon);
    const needed = [...spawnSync('readelf', ['-d', file], { encoding: 'utf8' }).stdout.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
    t.ok(needed.length > 0, `${addon} links ${needed.join(', ')}`);
    for (const so of needed) {
      const owner = spawnSync('dpkg', ['-S', `*/${so}`], { encoding: 'utf8' }).stdout.split('\n')[0].split(':')[0];
      t.ok(owner === 'libc6' || runtimePkgs.has(owner), `${addon}: ${so} is in ${owner || '(no package)'}, which the runtime stage installs`);
    }
  }
  for (const tool of ['ethtool', 'iproute2', 'conntrack']) t.ok(runtimePkgs.has(tool), `the doctor's ${tool} is installed`);
});

t.test('Dockerfile, scripts/setup.sh and engines name one Node LTS', async (t) => {
  const major = /^ARG NODE_MAJOR=(\d+)$/m.exec(fs.readFileSync(join(ROOT, 'Dockerfile'), 'utf8'))?.[1];
  const pinned = /^node_version=(\d+)\.(\d+)\.(\d+)$/m.exec(fs.readFileSync(join(ROOT, 'scripts', 'setup.sh'), 'utf8'));
  const engines = JSON.parse(fs.readFileSync(join(ROOT, 'package.json'), 'utf8')).engines.node as string;
  t.ok(major && Number(major) % 2 === 0, `the image's Node ${major} is an LTS line (even major)`);
  t.equal(pinned?.[1], major, 'setup.sh pins a Node of the image\'s major');
  const min = /^>=(\d+)\.(\d+)$/.exec(engines);
  t.ok(min, `engines.node is a floor (${engines})`);
  t.equal(min?.[1], major, 'engines names the image\'s major');
  t.ok(Number(pinned?.[2]) >= Number(min?.[2]), `setup.sh's ${pinned?.[0]} meets engines ${engines}`);
  t.equal(process.versions.node, `${pinned?.[1]}.${pinned?.[2]}.${pinned?.[3]}`, 'the tests run on the Node setup.sh pins');
});
