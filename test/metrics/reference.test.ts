// docs/metrics.md is the registry's own description (the agent's families and the HTTP server's) (src/metrics/reference.ts): it must equal
// what the code registers, and name every family the golden scrape holds.
// UPDATE_DOCS=1 rewrites docs/metrics.md (check the diff before committing it).

import t from 'tap';
import * as fs from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';

import { kubeConfigForServer, PodDirectory } from '../../src/kube/pods';
import { createRegistry } from '../../src/agent/registry';
import { metricsReference } from '../../src/metrics/reference';
import { build } from '../../src/server/app';
import { agentViews } from '../../src/agent/views';
import { FIX, fedAgent } from '../support/fed-agent';

const DOC = join(__dirname, '..', '..', '..', 'docs', 'metrics.md');

t.test('docs/metrics.md is what the registry holds', async (t) => {
  // A pod directory that is never started: its families register, nothing is asked of an API.
  const pods = new PodDirectory({ kubeConfig: kubeConfigForServer('https://127.0.0.1:1', { token: 't' }), nodeName: 'n', log: pino({ level: 'silent' }) });
  const agent = fedAgent({ pods });
  const reg = createRegistry(agent, '0.0.0-test');
  // The HTTP server registers its own connection families on the same registry.
  const app = build({ registry: reg, ...agentViews(agent) });
  const doc = metricsReference(reg);
  await app.close();
  if (process.env.UPDATE_DOCS) fs.writeFileSync(DOC, doc);
  t.equal(fs.readFileSync(DOC, 'utf8'), doc, 'docs/metrics.md matches the registry (UPDATE_DOCS=1 rewrites it)');

  // Every family of the golden scrape is documented, with its type.
  const golden = fs.readFileSync(join(FIX, 'metrics', 'golden.prom'), 'utf8');
  const types = [...golden.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1], m[2]]);
  t.ok(types.length > 20, `the golden scrape has ${types.length} families`);
  for (const [name, type] of types) t.match(doc, new RegExp(`^\\| \`${name}\` \\| ${type} \\|`, 'm'), `${name} (${type}) is documented`);
  // ...and every documented csumwatch family is in the golden scrape or needs a cluster.
  const documented = [...doc.matchAll(/^\| `(csumwatch_[a-z_]+)` \|/gm)].map((m) => m[1]);
  const inGolden = new Set(types.map(([n]) => n));
  const missing = documented.filter((n) => !inGolden.has(n) && !n.startsWith('csumwatch_kube_') && !n.startsWith('csumwatch_collector_'));
  t.same(missing, [], 'every documented family but the cluster\'s is in the golden scrape');
});
