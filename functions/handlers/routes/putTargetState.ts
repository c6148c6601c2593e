/** Replace a device's target state. Same content keeps the same version (ETag), so agents do not churn. */
import { getDeviceMeta, getTarget, putTarget } from '../../adapters/devices-repo.js';
import { registryCredentialExists } from '../../adapters/registry-credential-store.js';
import { targetVersion, etagOf } from '../../domain/target-version.js';
import { httpError } from '../../http/errors.js';
import { defineRoute } from '../../http/types.js';

export default defineRoute('putTargetState', async (req) => {
  const { deviceId } = req.params;
  if (!(await getDeviceMeta(deviceId))) throw httpError('not_found', `No device ${deviceId}`);
  // A name that resolves to nothing would only surface on the device as an "unauthorized" pull: refuse it here.
  const names = req.body.registryCredentials ?? [];
  const exists = await Promise.all(names.map((n) => registryCredentialExists(n)));
  const unknown = names.map((name, i) => ({ name, i })).filter((x) => !exists[x.i]);
  if (unknown.length) {
    throw httpError('validation_failed', `Invalid request: unknown registry credential ${unknown.map((u) => `'${u.name}'`).join(', ')} (store it first: PUT /v1/registry-credentials/{name})`, {
      issues: unknown.map((u) => ({ in: 'body', path: `registryCredentials.${u.i}`, code: 'unknown_reference', message: `no registry credential named '${u.name}'` })),
    });
  }
  const version = targetVersion(req.body);
  const current = await getTarget(deviceId);
  if (current?.version === version) return { statusCode: 200, headers: { etag: etagOf(version) }, body: current };
  const doc = { version, updatedAt: new Date(req.now).toISOString(), target: req.body };
  await putTarget(deviceId, doc);
  return { statusCode: 200, headers: { etag: etagOf(version) }, body: doc };
});
