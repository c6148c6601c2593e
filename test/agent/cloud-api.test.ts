/**
 * The agent (its real modules, as `fleetmedic-agent run --api-url …` wires them) against the REAL control
 * plane: the device-api/operator-api handlers behind the local API Gateway (local/http-server.ts,
 * local/fleet.ts) on moto, and the real engine. The cloud target is converged and reported, a job
 * enqueued by an operator is dispatched and executed once, and an API outage is caught up in order.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type Docker from 'dockerode';
import { Agent } from '../../agent/src/agent.js';
import { systemClock } from '../../agent/src/clock.js';
import type { CloudModule } from '../../agent/src/cloud/module.js';
import { defaultConfig } from '../../agent/src/config.js';
import { listOwnedContainers } from '../../agent/src/engine/observe.js';
import { createLogger, silentLogger } from '../../agent/src/log.js';
import { wire } from '../../agent/src/wiring.js';
import { startFleet, type Fleet } from '../../local/fleet.js';
import { handlersFromDirectory } from '../../local/handlers.js';
import { startApiServer, type ApiServer } from '../../local/http-server.js';
import { newOperatorToken } from '../../local/secrets.js';
import { requireEngine } from '../support/engine.js';
import { HTTPD_CMD, labImage, removeLabContainers, uniqueAgentId, waitFor } from '../support/engine-lab.js';
import { ensureEmulator, type Emulator } from '../support/moto.js';

describe('agent ⇄ the real control-plane handlers', () => {
  let emulator: Emulator;
  let fleet: Fleet;
  let docker: Docker;
  let dir: string;
  let agent: Agent;
  let cloud: CloudModule;
  let replacementApi: ApiServer | undefined;
  const deviceId = `dev-${randomBytes(3).toString('hex')}`;
  const agentId = uniqueAgentId('cloudapi');

  async function op<T = any>(method: string, path: string, body?: unknown): Promise<{ status: number; json: T }> {
    const res = await fetch(`${fleet.apiUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${fleet.operatorToken}`,
        ...(body ? { 'content-type': 'application/json' } : {}),
      },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    return { status: res.status, json: (text ? JSON.parse(text) : undefined) as T };
  }

  before(async () => {
    docker = await requireEngine();
    emulator = await ensureEmulator();
    fleet = await startFleet({
      prefix: `b2${randomBytes(3).toString('hex')}`,
      operatorToken: newOperatorToken(),
      slackPrint: null,
      scheduleSeconds: 3600,
      pollWaitSeconds: 1,
      log: () => {},
    });
    dir = await mkdtemp(join(tmpdir(), 'fm-cloud-api-'));
    const reg = await op<{ token: string }>('POST', '/v1/devices', { deviceId, name: 'B2 cloud-api test' });
    assert.equal(reg.status, 201, JSON.stringify(reg.json));
    await writeFile(join(dir, 'token'), reg.json.token, { mode: 0o600 });
    const put = await op('PUT', `/v1/devices/${deviceId}/target`, {
      services: {
        web: {
          image: labImage(),
          command: HTTPD_CMD,
          healthCheck: {
            kind: 'http',
            port: 8080,
            intervalSeconds: 1,
            timeoutSeconds: 1,
            failureThreshold: 2,
            startupDelaySeconds: 1,
          },
        },
      },
    });
    assert.equal(put.status, 200, JSON.stringify(put.json));

    // The production wiring, with the cloud link's timings scaled down.
    Object.assign(process.env, {
      FLEETMEDIC_JOB_POLL_SECONDS: '0.5',
      FLEETMEDIC_TARGET_POLL_SECONDS: '1',
      FLEETMEDIC_REPORT_MIN_INTERVAL_SECONDS: '0.5',
      FLEETMEDIC_HEARTBEAT_SECONDS: '3',
      FLEETMEDIC_RECONNECT_JITTER_SECONDS: '0.3',
      FLEETMEDIC_PROBE_MAX_SECONDS: '1',
    });
    const config = defaultConfig({
      stateDir: join(dir, 'state'),
      agentId,
      namePrefix: `${agentId}_`,
      intervalMs: 5000,
      minCycleGapMs: 50,
      stopTimeoutSeconds: 1,
      cloud: { apiUrl: fleet.apiUrl, deviceId, tokenFile: join(dir, 'token') },
    });
    const log = process.env.B2_DEBUG ? createLogger({ json: false, level: 'debug' }) : silentLogger();
    const wiring = await wire(config, { docker, log, clock: systemClock });
    cloud = wiring.modules.find((m) => m.name === 'cloud-link') as CloudModule;
    agent = await Agent.open({ config, docker, log, ...wiring });
    await agent.start();
  });

  after(async () => {
    await agent?.stop();
    await replacementApi?.close();
    await fleet?.close();
    if (docker) await removeLabContainers(docker, agentId);
    if (dir) await rm(dir, { recursive: true, force: true });
    await emulator?.stop();
  });

  test('the cloud target is converged and reported; the device detail shows the service running and healthy', async () => {
    await waitFor(
      'web running',
      async () =>
        (await listOwnedContainers(docker, agentId)).some((c) => c.service === 'web' && c.state === 'running'),
      60_000,
    );
    const detail = await waitFor(
      'device detail with web running and a passing check',
      async () => {
        const d = await op('GET', `/v1/devices/${deviceId}`);
        const web = d.json?.services?.find((s: { name: string }) => s.name === 'web');
        return web?.status === 'running' && web.lastHealthCheck?.healthy === true ? d.json : undefined;
      },
      30_000,
    );
    assert.equal(detail.targetVersion, agent.currentTarget()?.version);
    assert.ok(detail.lastSeq >= 1);
    assert.equal(typeof detail.clockOffsetMs, 'number', 'the clock offset measured from the acks reaches the cloud');
  });

  test('an operator job is dispatched, executed once by the agent, and SUCCEEDED', async () => {
    const [before] = (await listOwnedContainers(docker, agentId)).filter((c) => c.service === 'web');
    const enq = await op('POST', `/v1/devices/${deviceId}/jobs`, {
      type: 'restart-service',
      params: { service: 'web', reason: 'B2 test' },
    });
    assert.equal(enq.status, 202, JSON.stringify(enq.json));
    const jobId = enq.json.jobId as string;
    const job = await waitFor(
      'job SUCCEEDED',
      async () => {
        await fleet.runSchedule('outbox-publisher').catch(() => {});
        const j = await op('GET', `/v1/jobs/${jobId}`);
        return j.json?.status === 'SUCCEEDED' ? j.json : undefined;
      },
      40_000,
      500,
    );
    assert.equal(job.statusDetails?.restarted, true);
    const statuses = job.history.map((h: { status: string }) => h.status);
    assert.equal(
      statuses.filter((s: string) => s === 'IN_PROGRESS').length,
      1,
      `one execution: ${statuses.join(' → ')}`,
    );
    const after = (await listOwnedContainers(docker, agentId)).filter((c) => c.service === 'web');
    assert.equal(after.length, 1);
    assert.equal(after[0]!.id, before!.id, 'restarted in place');
  });

  test('API down for a while: the reports made meanwhile reach the real API afterwards, in order', async () => {
    const link = cloud.link;
    const port = Number(new URL(fleet.apiUrl).port);
    await waitFor('outbox empty', () => link.stats.delivered > 0 && link.outbox.size === 0, 20_000);
    await fleet.api.close();
    // Something to report while the API is away: the service dies and is recovered.
    const [web] = (await listOwnedContainers(docker, agentId)).filter((c) => c.service === 'web');
    void docker
      .getContainer(web!.id)
      .kill()
      .catch(() => {});
    await waitFor('reports buffered while offline', () => !link.state.isOnline && link.outbox.size >= 2, 30_000);
    const buffered: number[] = link.outbox.seqs();

    replacementApi = await startApiServer({ resolve: handlersFromDirectory(), port });
    await waitFor('outbox drained into the real API', () => link.outbox.size === 0, 30_000);
    // Caught up past everything buffered, and the recovery known: the restart may land just after the reports
    // that buffered its start (the kill is seen first), so the restart count is waited for, not sampled.
    let last: any;
    const detail = await waitFor(
      'the device state caught up, with the recovery made while offline',
      async () => {
        last = await fetch(`${fleet.apiUrl}/v1/devices/${deviceId}`, {
          headers: { authorization: `Bearer ${fleet.operatorToken}` },
        }).then((r) => r.json() as Promise<any>);
        const web = last.services?.find((s: { name: string }) => s.name === 'web');
        return last.lastSeq >= buffered.at(-1)! && web?.restartCount >= 2 ? last : undefined;
      },
      20_000,
    ).catch((err: Error) =>
      assert.fail(
        `${err.message}; last seen: ${JSON.stringify(last?.services?.map((s: any) => [s.name, s.restartCount]))}, lastSeq ${last?.lastSeq}`,
      ),
    );
    assert.ok(detail.services.find((s: { name: string }) => s.name === 'web').restartCount >= 2);
    assert.equal(link.stats.staleJumps, 0, 'delivered in order: the API never saw an older sequence after a newer one');
    assert.equal(link.stats.rejected, 0);
  });
});
