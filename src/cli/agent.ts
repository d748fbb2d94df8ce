// csumwatch agent [options]: the live node agent.

import pino from 'pino';
import { Agent } from '../agent/agent';
import { NodeReporter } from '../kube/node-status';
import { inClusterKubeConfig, PodDirectory } from '../kube/pods';
import { ConfigError, FIELDS, isList, loadConfig } from '../agent/config';
import { createRegistry } from '../agent/registry';
import { build } from '../server/app';
import { agentViews } from '../agent/views';
import { loadWebConfig, WebConfig } from '../server/webconfig';
import { CliError, parseCommand, UsageError } from './errors';
import { VERSION } from './version';

export const HELP = `usage: csumwatch agent [options]

Captures VXLAN and DNS on this node's VXLAN devices and their underlays, verifies every checksum,
matches DNS queries with their answers, counts the packets the kernel drops and why (an eBPF
tracer on kfree_skb, where the kernel allows), and serves Prometheus metrics, /healthz, /readyz
and /diagnosis over HTTP (HTTPS and basic auth with --web-config), and /debug/lost and
/debug/drops on the --debug-listen address only. Runs until SIGTERM or SIGINT.

options (each also as an environment variable and a key of the --config YAML file):
${FIELDS.map((f) => `  --${(f.flag + ' ' + (f.kind === 'listen' ? 'HOST:PORT' : f.kind === 'names' ? 'NAME' : f.kind === 'ports' ? 'N' : f.kind === 'enum' || f.kind === 'words' ? 'WORD' : f.kind === 'path' ? 'PATH' : f.kind === 'addrs' ? 'ADDR' : 'N')).padEnd(24)} ${f.help}\n  ${''.padEnd(26)} env ${f.env}, yaml ${f.yaml}`).join('\n')}
  --config FILE              read settings from a YAML file (env CSUMWATCH_CONFIG); flags win
                             over the environment, which wins over the file
  -h, --help                 this help

Logs are JSON lines on stdout (pino). Exit status: 0 after a clean shutdown, 1 when the agent
cannot start (the HTTP port is taken, the capture addon is missing), 2 bad usage or configuration.
`;

/**
 * `csumwatch agent`'s flags as it parses them (every setting, --config, --help); bad usage throws
 * UsageError. deploy/'s test parses the DaemonSet's args with it.
 */
export function parseAgentFlags(argv: string[]): Record<string, string | string[] | boolean | undefined> {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }> = {
    config: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  };
  for (const f of FIELDS) options[f.flag] = { type: 'string', ...(isList(f) ? { multiple: true } : {}) };
  return parseCommand({ args: argv, options, strict: true, allowPositionals: false }).values as Record<string, string | string[] | boolean | undefined>;
}

export async function runAgent(argv: string[]): Promise<number> {
  const v = parseAgentFlags(argv);
  if (v.help) {
    process.stdout.write(HELP);
    return 0;
  }
  let config;
  try {
    config = loadConfig({ file: (v.config as string | undefined) ?? (process.env.CSUMWATCH_CONFIG || undefined), env: process.env, flags: v });
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(`agent: ${err.message}`);
    throw err;
  }

  let web: WebConfig | undefined;
  if (config.webConfig) {
    try {
      web = loadWebConfig(config.webConfig);
    } catch (err) {
      if (err instanceof ConfigError) throw new UsageError(`agent: --web-config ${err.message}`);
      throw err;
    }
  }

  const log = pino({ level: config.logLevel, base: { app: 'csumwatch' } });
  if (web && web.users.size > 0 && !web.tls) log.warn({ webConfig: web.file }, 'basic auth without TLS: passwords cross the network in clear; add tls_server_config');
  if (config.debugListen && !isLoopback(config.debugListen.host)) {
    log.warn({ debugListen: `${config.debugListen.host}:${config.debugListen.port}` }, '/debug/* (query names) is served beyond this host; protect it with --web-config');
  }
  // Node's own SIGUSR1 handler opens the V8 inspector on 127.0.0.1:9229: in the node's network
  // namespace (hostNetwork), a debugger any local process could attach to. A handler of ours
  // replaces it.
  process.on('SIGUSR1', () => log.warn('SIGUSR1 ignored: the agent opens no inspector'));
  // In a cluster (a service account token), pods name the DNS servers and clients; else IPs do.
  let pods: PodDirectory | null = null;
  if (PodDirectory.inCluster()) {
    try {
      pods = PodDirectory.fromCluster(log);
      pods.start();
    } catch (err) {
      log.error({ err: (err as Error).message }, 'Kubernetes pod lookup unavailable; servers and clients are named by IP');
      pods = null;
    }
  }
  // In a cluster, a critical finding is a Node condition and an Event on the Node too.
  let nodeStatus: NodeReporter | null = null;
  const nodeName = process.env.NODE_NAME;
  if (config.nodeConditions === 'auto' && PodDirectory.inCluster() && nodeName) {
    try {
      nodeStatus = new NodeReporter({ kubeConfig: inClusterKubeConfig(), nodeName, log });
    } catch (err) {
      log.error({ err: (err as Error).message }, 'Node conditions unavailable; findings are in /diagnosis and the metrics only');
    }
  }
  const agent = new Agent(config, {
    log,
    pods: pods ?? undefined,
    onFindings: nodeStatus ? (f) => void nodeStatus!.report(f) : undefined,
    onPeers: nodeStatus ? (p) => void nodeStatus!.peers(p) : undefined,
  });
  const registry = createRegistry(agent, VERSION);
  const app = build({
    registry,
    log,
    web,
    ...agentViews(agent),
    onClose: async () => {
      await debugApp?.close();
      agent.stop();
      await pods?.stop();
    },
  });
  const debugApp = config.debugListen ? build({ registry, log, web, listener: 'debug', ...agentViews(agent) }) : null;

  try {
    agent.start();
  } catch (err) {
    // What only the running kernel can check (a drop reason it does not have): a usage error.
    agent.stop();
    await pods?.stop();
    if (err instanceof ConfigError) throw new UsageError(`agent: ${err.message}`);
    throw err;
  }
  try {
    await app.listen({ host: config.listen.host, port: config.listen.port });
  } catch (err) {
    agent.stop();
    throw new CliError('CSW_ERR_LISTEN', `listening on ${config.listen.host}:${config.listen.port}: ${(err as Error).message}`);
  }
  if (debugApp && config.debugListen) {
    const d = config.debugListen;
    try {
      await debugApp.listen({ host: d.host, port: d.port });
    } catch (err) {
      agent.stop();
      await app.close().catch(() => undefined);
      throw new CliError('CSW_ERR_LISTEN', `listening on ${d.host}:${d.port} (--debug-listen): ${(err as Error).message}`);
    }
  }
  log.info(
    {
      version: VERSION,
      listen: `${config.listen.host}:${config.listen.port}`,
      tls: Boolean(web?.tls),
      basicAuth: (web?.users.size ?? 0) > 0,
      debugListen: config.debugListen ? `${config.debugListen.host}:${config.debugListen.port}` : null,
      captures: agent.captures().map((c) => c.name),
    },
    'agent started',
  );

  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      process.removeAllListeners('SIGTERM');
      process.removeAllListeners('SIGINT');
      log.info({ signal }, 'shutting down');
      app.close().then(
        () => resolve(),
        (err) => {
          log.error({ err: (err as Error).message }, 'closing the server failed');
          resolve();
        },
      );
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  log.info('stopped');
  return 0;
}

/** 127.0.0.0/8, ::1 and localhost: the addresses only this host reaches. */
function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
