// The agent's HTTP app over a fed Agent (test/support/fed-agent.ts), listening in whatever network
// namespace it is started in, with the server limits of today or those before issue 19, so a test
// can put the same attack to both. `ip netns exec NS node http-child.js HOST PORT current|legacy`;
// prints "listening" once it does; SIGTERM ends it.

import { build } from '../../src/server/app';
import { agentViews } from '../../src/agent/views';
import { createRegistry } from '../../src/agent/registry';
import { fedAgent } from './fed-agent';

async function main(): Promise<void> {
  const [host, portText, mode] = process.argv.slice(2);
  const agent = fedAgent();
  const legacy = mode === 'legacy';
  // Before issue 19: a 72 s keep-alive, Node's own maxConnections (128, the newest refused), and
  // no limit per address.
  const app = build({
    registry: createRegistry(agent, 'x'),
    ...agentViews(agent),
    ...(legacy ? { limits: { keepAliveTimeoutMs: 72_000, perAddressConnections: 1e9, maxConnections: 1e9 } } : {}),
  });
  if (legacy) app.server.maxConnections = 128;
  await app.listen({ host, port: Number(portText) });
  process.stdout.write('listening\n');
  process.once('SIGTERM', () => {
    app.server.closeAllConnections();
    void app.close().then(() => process.exit(0));
  });
}

void main();
