// deploy/ without a cluster: what `kubectl apply -k deploy/` would send, read the way the API
// server reads it. Core objects are checked field by field against @kubernetes/client-node's
// models (generated from the Kubernetes OpenAPI), so a misspelt field (`readOnlyRootFileSystem`)
// fails here rather than being dropped or refused by the cluster; then the parts that must agree
// with each other and with the agent do: the container's args parse as the agent's flags, its
// port is the agent's, the probes hit its endpoints, the Service selects the pods, the
// ServiceMonitor the Service, RBAC grants exactly what attribution needs. And the Dockerfile's
// runtime stage installs the packages that provide every library the built addons link.

import t from 'tap';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';

import { DEFAULT_AGENT_CONFIG, loadConfig } from '../../src/agent/config';
import { parseAgentFlags } from '../../src/cli/agent';
import { agentPod, DEPLOY, kustomization, Obj, resource, resources, ROOT } from '../helpers/deploy';

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
};

t.test('the strict check itself catches a misspelt field, a wrong type and a wrong list', async (t) => {
  const out: string[] = [];
  strict({ spec: { template: { spec: { containers: [{ name: 'a', securityContext: { readOnlyRootFileSystem: true, privileged: 'no' } }], volumes: {} } } } }, 'V1DaemonSet', 'ds', out);
  t.same(out, [
    'ds.spec.template.spec.containers[0].securityContext.readOnlyRootFileSystem: unknown field of V1SecurityContext',
    'ds.spec.template.spec.containers[0].securityContext.privileged: expected true or false, got "no"',
    'ds.spec.template.spec.volumes: expected a list',
  ]);
});

t.test('every resource of the kustomization: known kind, valid against the Kubernetes models', async (t) => {
  const k = kustomization();
  t.equal(k.namespace, 'csumwatch');
  for (const f of k.resources) t.ok(fs.existsSync(join(DEPLOY, f)), `${f} exists`);
  const kinds = resources().map((r) => r.obj.kind).sort();
  t.same(kinds, ['ClusterRole', 'ClusterRoleBinding', 'DaemonSet', 'Namespace', 'PrometheusRule', 'Service', 'ServiceAccount', 'ServiceMonitor']);
  for (const { file, obj } of resources()) {
    t.equal(obj.metadata?.name, 'csumwatch', `${file} ${obj.kind}: named csumwatch`);
    const m = MODELS[obj.kind];
    if (!m) {
      t.equal(obj.apiVersion, 'monitoring.coreos.com/v1', `${file} ${obj.kind}: a Prometheus Operator resource`);
      continue;
    }
    t.equal(obj.apiVersion, m[0], `${obj.kind}: apiVersion ${m[0]}`);
    const out: string[] = [];
    strict(obj, m[1], obj.kind, out);
    t.same(out, [], `${file} ${obj.kind}: every field known and typed`);
  }
  // The dashboard's ConfigMap, as the generator makes it.
  const g = k.configMapGenerator.find((x) => x.name === 'csumwatch-dashboard');
  t.ok(g, 'the dashboard ConfigMap is generated');
  t.equal(g?.options?.labels?.grafana_dashboard, '1', 'labelled for the Grafana sidecar');
  t.equal(g?.options?.disableNameSuffixHash, true, 'a stable name');
  for (const f of g?.files ?? []) t.doesNotThrow(() => JSON.parse(fs.readFileSync(join(DEPLOY, f), 'utf8')), `${f} is JSON`);
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
  t.same(sc.capabilities.drop, ['ALL']);
  t.same([...sc.capabilities.add].sort(), ['BPF', 'NET_ADMIN', 'NET_RAW', 'PERFMON', 'SYS_RESOURCE']);

  // The args are the agent's: parsed as `csumwatch agent` parses them.
  t.equal(container.args[0], 'agent');
  const flags = parseAgentFlags(container.args.slice(1));
  const cfg = loadConfig({ flags });
  t.equal(cfg.hostRoot, '/host', '--host-root: where the node\'s files are mounted');
  t.ok((container.volumeMounts as Obj[]).some((m) => m.mountPath === '/host/etc'), 'the node\'s /etc is under it');
  const port = (container.ports as Obj[]).find((p) => p.name === 'metrics');
  t.equal(port?.containerPort, cfg.listen.port, 'the metrics port is the one the agent listens on');
  t.equal(cfg.listen.host, DEFAULT_AGENT_CONFIG.listen.host);
  t.equal(container.livenessProbe.httpGet.path, '/healthz');
  t.equal(container.readinessProbe.httpGet.path, '/readyz');
  t.equal(container.livenessProbe.httpGet.port, 'metrics');
  t.equal(container.readinessProbe.httpGet.port, 'metrics');
  t.same(container.env.find((e: Obj) => e.name === 'NODE_NAME')?.valueFrom, { fieldRef: { fieldPath: 'spec.nodeName' } }, 'NODE_NAME from the downward API');

  t.ok(container.resources.requests.cpu && container.resources.requests.memory && container.resources.limits.memory, 'requests and a memory limit');
  for (const m of container.volumeMounts as Obj[]) {
    const v = volumes.find((x) => x.name === m.name);
    if (v?.hostPath) t.equal(m.readOnly, true, `${m.mountPath}: the node's files are mounted read-only`);
  }
  t.ok(volumes.some((v) => v.hostPath?.path === '/sys/kernel/btf'), 'the kernel\'s BTF is mounted');
  // The image the kustomization sets.
  t.ok(kustomization().images.some((i) => i.name === container.image), 'the kustomization names the image');
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
  t.same(b.subjects, [{ kind: 'ServiceAccount', name: resource('ServiceAccount').metadata.name, namespace: kustomization().namespace }]);
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

  const sm = resource('ServiceMonitor');
  t.ok(Object.entries(sm.spec.selector.matchLabels).every(([k, v]) => svc.metadata.labels[k] === v), 'the ServiceMonitor selects the Service');
  const ep = sm.spec.endpoints[0];
  t.equal(ep.port, 'metrics');
  t.equal(ep.path, '/metrics');
  t.same(ep.relabelings.find((r: Obj) => r.targetLabel === 'node'), { sourceLabels: ['__meta_kubernetes_pod_node_name'], targetLabel: 'node', action: 'replace' }, 'node = the pod\'s node');
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
