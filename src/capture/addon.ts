// Loading the agent's N-API addons (native/, built into dist/native by `npm run build`).

import path from 'node:path';

/**
 * The built addon NAME (dist/native/NAME.node). When it cannot be loaded, throws what
 * fail(file, reason) makes, the reason ending in how to build it.
 */
export function requireAddon<T>(name: string, fail: (file: string, reason: string) => Error): T {
  const file = path.join(__dirname, '..', '..', 'native', `${name}.node`);
  try {
    return require(file) as T;
  } catch (err) {
    throw fail(file, `${(err as Error).message.split('\n')[0]} (run \`npm run build\`)`);
  }
}
