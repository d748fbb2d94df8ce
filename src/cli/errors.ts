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

/**
 * node:util parseArgs, an unknown or malformed option thrown as a UsageError (exit 2). A value
 * that looks like a negative number (`--dns-timeout -1`) is taken as the option's value, so that
 * the option's own check says what is wrong with it; parseArgs alone calls it "ambiguous".
 */
export function parseCommand<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs({ ...config, args: joinNegativeValues(config.args ?? [], config.options ?? {}) } as T);
  } catch (err) {
    throw usageFromParseArgs(err);
  }
}

/** `--name -1` as `--name=-1` where --name takes a value; every other argument as it was. */
function joinNegativeValues(args: readonly string[], options: NonNullable<ParseArgsConfig['options']>): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--') {
      out.push(...args.slice(i));
      break;
    }
    const next = args[i + 1];
    if (a.startsWith('--') && !a.includes('=') && options[a.slice(2)]?.type === 'string' && next !== undefined && /^-\.?\d/.test(next)) {
      out.push(`${a}=${next}`);
      i++;
    } else {
      out.push(a);
    }
  }
  return out;
}

/** Parses a port value, or throws UsageError naming the flag. */
export function parsePort(flag: string, v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < 1 || n > 65535) throw new UsageError(`${flag}: not a port number: ${v}`);
  return n;
}
