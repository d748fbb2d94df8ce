// Scrapes /metrics as hard as it can while the agent is being stopped, and says what every
// answer was. Run inside the agent's network namespace (`ip netns exec NS node scrape-race.js
// URL CONCURRENCY MAX_MS FAMILIES_FILE`): CONCURRENCY loops, each a new connection per request,
// until every loop has been refused for 500 ms or MAX_MS passed. Prints "scraping" once the first
// complete page is in (the parent then stops the agent), and one JSON line at the end: pages
// complete (parsed strictly, every family of FAMILIES_FILE present), connections refused or
// reset before any answer, 503s (the server closing), and every other outcome (another status,
// a page cut short or unparseable).

import * as fs from 'node:fs';
import * as http from 'node:http';

import { parseSeries } from './series';

export interface RaceResult {
  complete: number;
  refused: number;
  /** Connections reset before any byte of an answer came back. */
  reset: number;
  /** 503: fastify's answer to a request it reads once it is closing (return503OnClosing). */
  closing: number;
  /** Everything else, each once with how often it happened. */
  other: Record<string, number>;
}

export function classify(status: number | null, body: string, err: NodeJS.ErrnoException | null, families: string[]): string {
  if (err) return err.code === 'ECONNREFUSED' ? 'refused' : `error ${err.code ?? err.message}`;
  if (status !== 200) return `status ${status}`;
  let fams: Set<string>;
  try {
    fams = new Set([...parseSeries(body).values()].map((s) => s.family));
  } catch (e) {
    return `unparseable: ${(e as Error).message.slice(0, 80)}`;
  }
  const missing = families.filter((f) => !fams.has(f));
  return missing.length === 0 ? 'complete' : `incomplete: no ${missing[0]} (and ${missing.length - 1} more)`;
}

function once(url: string, families: string[]): Promise<string> {
  return new Promise((resolve) => {
    let answered = false;
    let done = false;
    const finish = (r: string) => {
      if (!done) resolve(r);
      done = true;
    };
    const req = http.get(url, { agent: false, timeout: 10_000 }, (res) => {
      answered = true;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => finish(res.complete ? classify(res.statusCode ?? null, body, null, families) : 'truncated: the connection ended mid-page'));
      res.on('aborted', () => finish('truncated: aborted mid-page'));
      res.on('error', (e) => finish(`truncated: ${(e as NodeJS.ErrnoException).code ?? e.message} mid-page`));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
    req.on('error', (e) => {
      const code = (e as NodeJS.ErrnoException).code;
      // Reset before a byte of an answer: the kernel resets what waits in the accept queue
      // when the listening socket closes. The scraper got nothing, as if refused.
      if (!answered && code === 'ECONNRESET') finish('reset');
      else finish(answered ? `truncated: ${code ?? e.message} mid-page` : classify(null, '', e as NodeJS.ErrnoException, families));
    });
  });
}

async function main(): Promise<void> {
  const [url, conc, maxMs, famFile] = process.argv.slice(2);
  const families = fs.readFileSync(famFile, 'utf8').split('\n').filter((l) => l !== '');
  const res: RaceResult = { complete: 0, refused: 0, reset: 0, closing: 0, other: {} };
  const end = Date.now() + Number(maxMs);
  let announced = false;
  const loop = async () => {
    let refusedSince = 0;
    while (Date.now() < end) {
      const r = await once(url, families);
      if (r === 'complete') {
        res.complete++;
        refusedSince = 0;
        if (!announced) {
          announced = true;
          process.stdout.write('scraping\n');
        }
      } else if (r === 'status 503') {
        res.closing++;
      } else if (r === 'refused' || r === 'reset') {
        res[r]++;
        refusedSince ||= Date.now();
        if (Date.now() - refusedSince > 500) return;
        await new Promise((s) => setTimeout(s, 5));
      } else {
        res.other[r] = (res.other[r] ?? 0) + 1;
      }
    }
  };
  await Promise.all(Array.from({ length: Number(conc) }, loop));
  process.stdout.write(JSON.stringify(res) + '\n');
}

if (require.main === module) void main();
