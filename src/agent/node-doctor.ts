// The doctor's checks (src/doctor/) run by the agent every --doctor-interval seconds: the latest
// report feeds /diagnosis, csumwatch_finding and csumwatch_offload_enabled. Each run passes the
// previous checksum-error reading, so the offload check knows whether errors are rising.

import fs from 'node:fs';
import type { Logger } from 'pino';
import { CsumCounters, DoctorReport, runDoctor } from '../doctor/run';
import type { Finding } from '../doctor/finding';
import { DoctorInputs, NodeInputs } from '../doctor/inputs';
import { parseResolvConf } from '../node/resolv';
import { AgentConfig } from './config';

export class NodeDoctor {
  /** The latest report; null before the first run or when it could not run at all. */
  report: DoctorReport | null = null;
  /** Why the last run failed (the interface list could not be read), or null. */
  error: string | null = null;
  runs = 0;
  private previous: CsumCounters | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly inputs: DoctorInputs;

  /**
   * answers: the A and AAAA answers the agent has seen, for the IPv6 check (AAAA answers on a
   * node that cannot route IPv6).
   */
  constructor(
    private readonly config: AgentConfig,
    private readonly log: Logger,
    inputs?: DoctorInputs,
    private readonly answers: () => { a: number; aaaa: number } | null = () => null,
    /** Told each report's findings (the Node's conditions in a cluster). */
    private readonly onFindings: (findings: readonly Finding[]) => void = () => {},
  ) {
    this.inputs = inputs ?? new NodeInputs({ hostRoot: config.hostRoot });
  }

  /** Runs now, then every interval (unless the interval is 0). */
  start(): void {
    if (this.config.doctorInterval <= 0) return;
    this.run();
    this.timer = setInterval(() => this.run(), this.config.doctorInterval * 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /**
   * In a pod that reads the node through --host-root, the pod's own /etc/resolv.conf names the
   * cluster DNS: the DaemonSet's dnsPolicy ClusterFirstWithHostNet puts the kubelet's clusterDNS
   * there. Used when neither --cluster-dns nor a readable kubelet configuration gives it.
   */
  private podClusterDns(): { addresses: string[]; source: string } | null {
    if (this.config.hostRoot === '/' || !process.env.KUBERNETES_SERVICE_HOST) return null;
    let text: string;
    try {
      text = fs.readFileSync('/etc/resolv.conf', 'utf8');
    } catch {
      return null;
    }
    return { addresses: parseResolvConf(text).nameservers, source: "the agent pod's /etc/resolv.conf (dnsPolicy ClusterFirstWithHostNet)" };
  }

  /** One run of every check; a failure keeps the previous report and is logged when it changes. */
  run(): void {
    try {
      const r = runDoctor(this.inputs, {
        previous: this.previous,
        clusterDns: this.config.clusterDns.length > 0 ? this.config.clusterDns : undefined,
        clusterDnsFallback: this.podClusterDns(),
        dnsAnswers: this.answers(),
      });
      const before = new Set((this.report?.findings ?? []).map((f) => `${f.check}/${f.severity}/${f.evidence}`));
      for (const f of r.findings) {
        if (f.severity !== 'info' && !before.has(`${f.check}/${f.severity}/${f.evidence}`)) this.log.warn({ check: f.check, severity: f.severity, evidence: f.evidence, remediation: f.remediation }, 'doctor finding');
      }
      this.report = r;
      this.onFindings(r.findings);
      if (r.counters) this.previous = r.counters;
      this.runs++;
      if (this.error) this.log.info('doctor runs again');
      this.error = null;
    } catch (err) {
      const msg = (err as Error).message;
      if (msg !== this.error) this.log.error({ err: msg }, 'doctor could not run; keeping its previous findings');
      this.error = msg;
    }
  }
}
