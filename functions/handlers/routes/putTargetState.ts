/**
 * Replace a device's target state. Same content keeps the same version (ETag), so agents do not churn.
 * With If-Match the change applies only to the version the operator read (412 otherwise), checked again in
 * the write itself so a change landing between the read and the write is caught too.
 */
import { getDeviceMeta, getTarget, putTarget } from '../../adapters/devices-repo.js';
import { registryCredentialExists } from '../../adapters/registry-credential-store.js';
import { etagOf, ifMatchHolds, targetVersion } from '../../domain/target-version.js';
import { httpError } from '../../http/errors.js';
import { defineRoute } from '../../http/types.js';
import { notifyDevice } from '../../services/device-push.js';
import { recordOperatorAction } from '../../services/audit.js';
import { actor } from '../../http/principal.js';

export default defineRoute('putTargetState', async (req) => {
  const { deviceId } = req.params;
  if (!(await getDeviceMeta(deviceId))) throw httpError('not_found', `No device ${deviceId}`);
  // A name that resolves to nothing would only surface on the device as an "unauthorized" pull: refuse it here.
  const names = req.body.registryCredentials ?? [];
  const exists = await Promise.all(names.map((n) => registryCredentialExists(n)));
  const unknown = names.map((name, i) => ({ name, i })).filter((x) => !exists[x.i]);
  if (unknown.length) {
    throw httpError(
      'validation_failed',
      `Invalid request: unknown registry credential ${unknown.map((u) => `'${u.name}'`).join(', ')} (store it first: PUT /v1/registry-credentials/{name})`,
      {
        issues: unknown.map((u) => ({
          in: 'body',
          path: `registryCredentials.${u.i}`,
          code: 'unknown_reference',
          message: `no registry credential named '${u.name}'`,
        })),
      },
    );
  }
  const ifMatch = req.header('if-match');
  const version = targetVersion(req.body);
  const current = await getTarget(deviceId);
  const conflict = (currentVersion: string | undefined) =>
    httpError(
      'precondition_failed',
      `The target of ${deviceId} is ${currentVersion ? `version ${currentVersion}` : 'not set'}, not the one this change is based on (If-Match ${ifMatch!.slice(0, 100)}): read it again and reapply the change`,
      { currentVersion: currentVersion ?? null },
      currentVersion ? { etag: etagOf(currentVersion) } : {},
    );
  if (ifMatch !== undefined && !ifMatchHolds(ifMatch, current?.version)) throw conflict(current?.version);
  if (current?.version === version) return { statusCode: 200, headers: { etag: etagOf(version) }, body: current };
  const doc = { version, updatedAt: new Date(req.now).toISOString(), target: req.body };
  if (!(await putTarget(deviceId, doc, ifMatch !== undefined ? (current?.version ?? null) : undefined)))
    throw conflict((await getTarget(deviceId))?.version);
  await recordOperatorAction(
    {
      action: 'target.put',
      target: { kind: 'target', id: deviceId },
      deviceId,
      params: {
        version,
        previousVersion: current?.version ?? null,
        services: Object.keys(req.body.services ?? {}),
        ...(ifMatch !== undefined ? { ifMatch: ifMatch.slice(0, 100) } : {}),
      },
    },
    actor(req),
  );
  // The device syncs now instead of at its next poll (a hint over its push connection; never fails the change).
  await notifyDevice(deviceId, 'target', req.now);
  return { statusCode: 200, headers: { etag: etagOf(version) }, body: doc };
});
