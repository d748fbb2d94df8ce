// What the HTTP server reads of the agent (server/app.ts AppDeps): the agent's side of that narrow
// interface, so that the server knows no Agent.

import type { AppDeps } from '../server/app';
import type { Agent } from './agent';
import { agentFindings } from './diagnosis';

export function agentViews(agent: Agent): Omit<AppDeps, 'registry' | 'log' | 'onClose'> {
  return {
    ready: () => agent.ready(),
    running: () => agent.running(),
    captures: () => agent.captures(),
    lost: () => agent.dns.lost(),
    topLostNames: (n) => agent.dns.topLostNames(n),
    diagnosis: () => agentFindings(agent),
    drops: () => agent.drops.recentDrops(),
    podOf: (ip) => agent.podOf(ip),
  };
}
