/**
 * Private registries, against container-lab's registry that requires a login ($LAB_AUTH_REGISTRY, basic auth):
 *   1. the engine path alone: anonymous and wrong-password pulls are refused ("unauthorized") as permanent errors
 *      that say which credential was used (or that none was); the right credential pulls (X-Registry-Auth), and
 *      the disk pre-check reads the image's size from the registry with it;
 *   2. the whole system: an operator stores a credential with a wrong password (CLI), a target names it; the
 *      device reports a permanent, explained error; rotating the credential to the right password heals the
 *      service in the same agent process (no restart); the password is in no log line, state file, report,
 *      event or alert.
 * One file on purpose: both parts pull and remove the same image, so they must not run side by side.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type Docker from 'dockerode';
import { registryImageSize } from '../../agent/src/engine/disk.js';
import { pullImage } from '../../agent/src/engine/pull.js';
import { RegistryCredentials, type ImageAuth } from '../../agent/src/engine/registry-auth.js';
import { StepError } from '../../agent/src/backoff/errors.js';
import { requireEngine, requireLabAuthRegistry } from '../support/engine.js';
import { SLEEP_CMD } from '../support/engine-lab.js';
import { startE2e, waitFor, withLogsOnFailure, type E2e } from './support/e2e.js';

const lab = requireLabAuthRegistry();
const WRONG = `wrong-${Date.now().toString(36)}`;
let docker: Docker;

async function removeImage(): Promise<void> {
  await docker
    .getImage(lab.image)
    .remove({ force: true })
    .catch((err: { statusCode?: number }) => {
      if (err.statusCode !== 404) throw err;
    });
}

async function refusal(auth: ImageAuth | undefined): Promise<StepError> {
  try {
    await pullImage(docker, lab.image, { timeoutMs: 60_000, ...(auth ? { auth } : {}) });
  } catch (err) {
    assert.ok(err instanceof StepError, String(err));
    return err;
  }
  assert.fail('the pull was expected to be refused');
}

before(async () => {
  docker = await requireEngine();
});

test('engine: anonymous and wrong-password pulls are refused, permanent and explained; the right credential pulls', async () => {
  await removeImage();
  const anonymous = await refusal(undefined);
  assert.equal(anonymous.permanent, true);
  assert.equal(anonymous.type, 'ErrImagePull');
  assert.match(anonymous.message, /unauthorized/i);
  assert.match(
    anonymous.message,
    new RegExp(`no registry credential for ${lab.registry.replace(/\./g, '\\.')} was delivered`),
  );

  const creds = new RegistryCredentials();
  creds.replace({ lab: { registry: lab.registry, username: lab.username, password: WRONG } });
  const wrong = await refusal(creds.forImage(lab.image));
  assert.equal(wrong.permanent, true);
  assert.match(wrong.message, /unauthorized/i);
  assert.match(wrong.message, /refused registry credential 'lab'/);
  assert.ok(!wrong.message.includes(WRONG), 'the error names the credential, never its value');

  assert.deepEqual(creds.replace({ lab: { registry: lab.registry, username: lab.username, password: lab.password } }), [
    lab.registry,
  ]);
  await pullImage(docker, lab.image, { timeoutMs: 120_000, auth: creds.forImage(lab.image)! });
  assert.ok(await docker.getImage(lab.image).inspect());
  await removeImage();
});

test('disk pre-check: the image size comes from the login registry with the credential, not without it', async () => {
  const cfg = { insecureRegistries: [], lookupTimeoutMs: 5000 };
  const right = await registryImageSize(lab.image, cfg, {
    username: lab.username,
    password: lab.password,
    serveraddress: lab.registry,
  });
  assert.ok(right !== undefined && right > 0, `size with the credential: ${right}`);
  assert.equal(await registryImageSize(lab.image, cfg), undefined, 'anonymous: refused, size unknown');
  assert.equal(
    await registryImageSize(lab.image, cfg, { username: lab.username, password: WRONG, serveraddress: lab.registry }),
    undefined,
  );
});

let e2e: E2e;
test('whole system: a wrong password is a permanent, explained error; rotating it heals without an agent restart', async () => {
  e2e = await startE2e('privreg');
  await withLogsOnFailure(e2e, async () => {
    await removeImage();
    const pwFile = join(e2e.dir, 'registry-password');
    writeFileSync(pwFile, `${WRONG}\n`, { mode: 0o600 });
    const stored = await e2e.cliJson(
      'registry-credential',
      'set',
      'lab',
      '--registry',
      lab.registry,
      '--username',
      lab.username,
      '--password-file',
      pwFile,
    );
    assert.equal(stored.created, true);
    assert.ok(!JSON.stringify(stored).includes(WRONG));

    await e2e.register('priv-1');
    await e2e.setTarget('priv-1', {
      services: { app: { image: lab.image, command: SLEEP_CMD } },
      registryCredentials: ['lab'],
    });
    const agent = await e2e.startAgent('priv-1');
    const pid = agent.child.pid;

    const refused = await waitFor(
      'app reported with a permanent pull error naming the credential',
      async () => {
        const d = await e2e.cliJson('device', 'priv-1');
        const app = d.services.find((s: any) => s.name === 'app');
        return app?.error?.permanent && /refused registry credential 'lab'/.test(app.error.message) ? app : undefined;
      },
      90_000,
      500,
    );
    assert.match(refused.error.type, /ErrImagePull|ImagePullBackOff/);
    assert.match(refused.error.message, /unauthorized/i);
    assert.match(refused.error.message, /fleetmedic registry-credential set lab/);
    const human = await e2e.cli('device', 'priv-1');
    assert.match(human.stdout, /refused registry credential 'lab'/);

    // The fix: rotate the credential. Same target version; the device's next poll gets the new value.
    writeFileSync(pwFile, `${lab.password}\n`);
    const rotated = await e2e.cliJson(
      'registry-credential',
      'set',
      'lab',
      '--registry',
      lab.registry,
      '--username',
      lab.username,
      '--password-file',
      pwFile,
    );
    assert.equal(rotated.created, false);
    await waitFor(
      'app running without error',
      async () => {
        const d = await e2e.cliJson('device', 'priv-1');
        const app = d.services.find((s: any) => s.name === 'app');
        return app?.status === 'running' && !app.error ? d : undefined;
      },
      90_000,
      500,
    );
    assert.equal(agent.child.pid, pid);
    assert.equal(agent.child.exitCode, null, 'the same agent process healed it (no restart)');
    assert.ok(agent.logs.some((l) => /registry credentials changed/.test(l)));

    // Neither password anywhere: agent logs, the agent's state files, what the cloud stored and shows.
    const secrets = [WRONG, lab.password];
    const leaks = (where: string, text: string) =>
      assert.ok(!secrets.some((s) => text.includes(s)), `a password leaked into ${where}`);
    leaks('the agent log', agent.logs.join('\n'));
    const stateDir = join(e2e.dir, 'agent-priv-1');
    const files = walk(stateDir);
    assert.ok(
      files.some((f) => /target/.test(f)),
      `state files: ${files.join(', ')}`,
    );
    for (const f of files) leaks(f, readFileSync(f, 'latin1'));
    leaks('device detail', JSON.stringify(await e2e.cliJson('device', 'priv-1')));
    leaks('events', JSON.stringify(await e2e.cliJson('events', '--device', 'priv-1')));
    leaks('Slack', JSON.stringify(e2e.fleet.slack?.messages ?? []));
  });
});

after(async () => {
  await e2e?.close();
  if (docker) await removeImage();
});

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}
