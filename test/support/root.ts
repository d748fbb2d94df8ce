// What every privileged test file starts with: fail (never skip) without root, and on the way
// out kill the processes it started and take its labs down, whatever happened.

import t from 'tap';
import { ChildProcess } from 'node:child_process';

import { labDown } from '../../src/lab/lab';

/**
 * Stops the file with a failure unless it runs as root (what needs it: `what`); registers a
 * teardown that kills the returned list's processes and removes the labs named. Returns the list
 * to push started processes to.
 */
export function rootTest(what: string, labs: string[] = []): ChildProcess[] {
  if (process.getuid?.() !== 0) {
    t.fail(`${what} need root: run them with the README's test command as root`);
    process.exit(1);
  }
  const procs: ChildProcess[] = [];
  t.teardown(() => {
    for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
    for (const name of labs) labDown(name);
  });
  return procs;
}
