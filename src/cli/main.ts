// Entry point: dispatches sub-commands and turns errors into one stderr line and an exit status.

import { runAgent } from './agent';
import { runAnalyze } from './analyze';
import { runDoctorCli } from './doctor';
import { UsageError } from './errors';
import { runLab } from './lab';

const COMMANDS: Record<string, (argv: string[]) => number | Promise<number>> = {
  analyze: runAnalyze,
  agent: runAgent,
  doctor: runDoctorCli,
  lab: runLab,
};

const HELP = `usage: csumwatch COMMAND [options]

commands:
  analyze FILE...   verify checksums in pcap/pcapng captures and find DNS queries lost to them
  agent             the live node agent: capture, correlation, Prometheus metrics over HTTP
  doctor            diagnose this node (checksum offload, VXLAN binding, MTU, resolv.conf, NAT)
                    and name the fix
  lab COMMAND       a lab of network namespaces with VXLAN, DNS and a checksum fault injector
                    (up, down, status, fault, demo)

Run 'csumwatch COMMAND --help' for a command's options.
`;

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    if (cmd === undefined || cmd === '-h' || cmd === '--help' || cmd === 'help') {
      (cmd === undefined ? process.stderr : process.stdout).write(HELP);
      return cmd === undefined ? 2 : 0;
    }
    const run = COMMANDS[cmd];
    if (!run) throw new UsageError(`unknown command '${cmd}' (this build has: ${Object.keys(COMMANDS).join(', ')})`);
    return await run(rest);
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

