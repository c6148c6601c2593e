/**
 * `fleetmedic stats` in-process against a tiny real HTTP server with a canned answer: the query it sends, the table
 * and `--json`, and a bad `--since` refused before anything is sent.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../../functions/cli/program.js';
import { EXIT } from '../../../functions/cli/errors.js';

const answer = {
  deviceId: 'pump-1',
  windows: [
    {
      window: '86400s',
      since: '2026-01-09T10:00:00.000Z',
      strategies: [
        { strategy: 'restart', succeeded: 9, failed: 1, attempts: 10, successRate: 0.9 },
        { strategy: 'RETRY', succeeded: 1, failed: 0, attempts: 1, successRate: 1 },
      ],
      total: { strategy: 'all', succeeded: 10, failed: 1, attempts: 11, successRate: 10 / 11 },
    },
  ],
  alert: { threshold: 0.95, minAttempts: 20 },
};
const seen: string[] = [];
let server: Server;
let url = '';
before(async () => {
  server = createServer((req, res) => {
    seen.push(req.url!);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(answer));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => new Promise<void>((r) => server.close(() => r())));

async function cli(args: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await runCli(['--api-url', url, '--token', 'tok', ...args], {
    stdout: (s) => (stdout += s),
    stderr: (s) => (stderr += s),
    env: { FLEETMEDIC_LOCAL_DIR: mkdtempSync(join(tmpdir(), 'fm-stats-')) },
    now: () => Date.parse('2026-01-10T10:15:00.000Z'),
    color: false,
    sleep: async () => {},
  });
  return { code, stdout, stderr };
}

test('stats --device --since: the query sent, the table printed', async () => {
  const r = await cli(['stats', '--device', 'pump-1', '--since', '24h']);
  assert.equal(r.code, EXIT.ok, r.stderr);
  assert.equal(seen.at(-1), '/v1/stats/recoveries?deviceId=pump-1&sinceSeconds=86400');
  assert.match(r.stdout, /Recovery statistics — pump-1/);
  assert.match(r.stdout, /restart\s+10\s+9\s+1\s+90\.0 %/);
  assert.match(r.stdout, /all\s+11\s+10\s+1\s+90\.9 %/);
});

test('--json prints the API answer; a bad --since is a usage error and sends nothing', async () => {
  const j = await cli(['--json', 'stats']);
  assert.equal(j.code, EXIT.ok, j.stderr);
  assert.deepEqual(JSON.parse(j.stdout), answer);
  const before = seen.length;
  const bad = await cli(['stats', '--since', '10s']);
  assert.equal(bad.code, EXIT.usage);
  assert.match(bad.stderr, /--since must be a duration from 1m to 7d/);
  assert.equal(seen.length, before);
});
