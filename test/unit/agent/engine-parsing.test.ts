import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProgressParser } from '../../../agent/src/engine/pull.js';
import { parseImageRef } from '../../../agent/src/engine/disk.js';
import { createOptions } from '../../../agent/src/engine/create-options.js';
import { ServiceSpec } from '../../../functions/contract/target-state.js';

test('progress stream: Podman reports the failure inside the 200 stream, lines may be split across chunks', () => {
  const p = new ProgressParser();
  const line = JSON.stringify({
    progressDetail: {},
    errorDetail: { message: 'reading manifest missing in reg/x: manifest unknown: manifest unknown' },
    error: 'reading manifest missing in reg/x: manifest unknown: manifest unknown',
  });
  p.push('{"status":"Trying to pull reg/x:missing..."}\n');
  p.push(line.slice(0, 30));
  p.push(`${line.slice(30)}\r\n`);
  p.end();
  assert.equal(p.error, 'reading manifest missing in reg/x: manifest unknown: manifest unknown');
  assert.equal(p.lines, 2);
});

test('progress stream: a successful Docker pull has no error; garbage lines are ignored', () => {
  const p = new ProgressParser();
  const seen: string[] = [];
  const q = new ProgressParser((x) => seen.push(x.status ?? ''));
  for (const parser of [p, q]) {
    parser.push(
      '{"status":"Pulling from lab/busybox","id":"1"}\n{"status":"Download complete","id":"98857b31585c"}\nnot json\n',
    );
    parser.push('{"status":"Status: Downloaded newer image for reg/lab/busybox:1"}');
    parser.end();
  }
  assert.equal(p.error, undefined);
  assert.deepEqual(seen, [
    'Pulling from lab/busybox',
    'Download complete',
    'Status: Downloaded newer image for reg/lab/busybox:1',
  ]);
});

test('image references: registry, repository, tag/digest', () => {
  assert.deepEqual(parseImageRef('127.0.0.1:5000/lab/busybox:1'), {
    registry: '127.0.0.1:5000',
    repo: 'lab/busybox',
    reference: '1',
  });
  assert.deepEqual(parseImageRef('busybox'), {
    registry: 'registry-1.docker.io',
    repo: 'library/busybox',
    reference: 'latest',
  });
  assert.deepEqual(parseImageRef('ghcr.io/o/r@sha256:abc'), {
    registry: 'ghcr.io',
    repo: 'o/r',
    reference: 'sha256:abc',
  });
  assert.deepEqual(parseImageRef('localhost/app:2'), { registry: 'localhost', repo: 'app', reference: '2' });
});

test('create options: ports, env, volumes, command, restart policy and the ownership labels', () => {
  const spec = ServiceSpec.parse({
    image: 'reg/web:1',
    command: ['httpd', '-f'],
    env: { A: '1' },
    ports: [
      { container: 80, host: 8080 },
      { container: 53, protocol: 'udp' },
    ],
    volumes: [
      { source: '/data', target: '/srv', readOnly: true },
      { source: 'named', target: '/x' },
    ],
    restartPolicy: 'unless-stopped',
  });
  const o = createOptions({ name: 'p_web', service: 'web', spec, specHash: 'h1', agentId: 'a1', targetVersion: 'v7' });
  assert.equal(o.name, 'p_web');
  assert.deepEqual(o.Cmd, ['httpd', '-f']);
  assert.deepEqual(o.Env, ['A=1']);
  assert.deepEqual(o.ExposedPorts, { '80/tcp': {}, '53/udp': {} });
  assert.deepEqual(o.HostConfig!.PortBindings, { '80/tcp': [{ HostPort: '8080' }] });
  assert.deepEqual(o.HostConfig!.Binds, ['/data:/srv:ro', 'named:/x']);
  assert.deepEqual(o.HostConfig!.RestartPolicy, { Name: 'unless-stopped' });
  assert.deepEqual(o.Labels, {
    'io.fleetmedic.owned': 'true',
    'io.fleetmedic.agent': 'a1',
    'io.fleetmedic.service': 'web',
    'io.fleetmedic.spec-hash': 'h1',
    'io.fleetmedic.target-version': 'v7',
  });
});
