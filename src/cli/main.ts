// Entry point: dispatches sub-commands and turns errors into one stderr line and an exit status.

import { UsageError } from './errors';
import { VERSION } from './version';

type Command = (argv: string[]) => number | Promise<number>;

/**
 * Each command's module is loaded only when it runs: the agent's HTTP server and metrics
 * (fastify, pino, prom-client) cost a quarter of a second to load, which `analyze` and `--help`
 * should not pay.
 */
const COMMANDS: Record<string, () => Promise<Command>> = {
  analyze: async () => (await import('./analyze')).runAnalyze,
  agent: async () => (await import('./agent')).runAgent,
  doctor: async () => (await import('./doctor')).runDoctorCli,
  lab: async () => (await import('./lab')).runLab,
};

const HELP = `usage: csumwatch COMMAND [options]

commands:
  analyze FILE...   verify checksums in pcap/pcapng captures and find DNS queries lost to them
  agent             the live node agent: capture, correlation, Prometheus metrics over HTTP
  doctor            diagnose this node (checksum offload, VXLAN binding, MTU, resolv.conf, NAT)
                    and name the fix
  lab COMMAND       a lab of network namespaces with VXLAN, DNS and a checksum fault injector
                    (up, down, status, fault, demo)

Run 'csumwatch COMMAND --help' for a command's options, 'csumwatch --version' for the version.
`;

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    if (cmd === undefined || cmd === '-h' || cmd === '--help' || cmd === 'help') {
      (cmd === undefined ? process.stderr : process.stdout).write(HELP);
      return cmd === undefined ? 2 : 0;
    }
    if (cmd === '--version' || cmd === '-V' || cmd === 'version') {
      process.stdout.write(`csumwatch ${VERSION}\n`);
      return 0;
    }
    const load = COMMANDS[cmd];
    if (!load) throw new UsageError(`unknown command '${cmd}' (this build has: ${Object.keys(COMMANDS).join(', ')}; see csumwatch --help)`);
    return await (await load())(rest);
  } catch (err) {
    const e = err as Error & { code?: string };
    if (e instanceof UsageError) {
      process.stderr.write(`csumwatch: ${e.message}\n`);
      return 2;
    }
    if (typeof e.code === 'string' && e.code.startsWith('CSW_ERR_')) {
      process.stderr.write(`csumwatch: ${e.message}\n`);
      return 1;
    }
    process.stderr.write(`csumwatch: internal error: ${e.stack ?? String(err)}\n`);
    return 1;
  }
}

