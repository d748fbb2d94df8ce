import { parseArgs, ParseArgsConfig } from 'node:util';

/** Bad command-line usage: exit 2 with one line on stderr. */
export class UsageError extends Error {
  readonly code = 'CSW_ERR_USAGE';
}

/** A failure the user should read as one line (no stack): exit 1. */
export class CliError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

/** node:util parseArgs' error as a UsageError: its first line, lower case like ours. */
export function usageFromParseArgs(err: unknown): UsageError {
  return new UsageError((err as Error).message.split('\n')[0].replace(/^[A-Z]/, (c) => c.toLowerCase()));
}

/** node:util parseArgs, an unknown or malformed option thrown as a UsageError (exit 2). */
export function parseCommand<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (err) {
    throw usageFromParseArgs(err);
  }
}

/** Parses a port value, or throws UsageError naming the flag. */
export function parsePort(flag: string, v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < 1 || n > 65535) throw new UsageError(`${flag}: not a port number: ${v}`);
  return n;
}
