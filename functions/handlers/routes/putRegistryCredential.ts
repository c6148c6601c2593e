/**
 * Store or rotate a registry credential. The answer says what was stored where, never the value; devices whose
 * target names the credential get the new value with their next target fetch (its ETag changes).
 */
import { CredentialBeingDeleted, storeRegistryCredential } from '../../adapters/registry-credential-store.js';
import { httpError } from '../../http/errors.js';
import { defineRoute } from '../../http/types.js';
import { recordOperatorAction } from '../../services/audit.js';
import { actor } from '../../http/principal.js';

export default defineRoute('putRegistryCredential', async (req) => {
  const { name } = req.params;
  let created: boolean;
  try {
    ({ created } = await storeRegistryCredential(name, req.body));
  } catch (err) {
    if (err instanceof CredentialBeingDeleted)
      throw httpError(
        'version_conflict',
        `Registry credential ${name} was deleted moments ago and is still being removed; try again in a few seconds`,
      );
    throw err;
  }
  // The registry and user name say which credential changed; the password never leaves the secret.
  await recordOperatorAction(
    {
      action: 'registry-credential.put',
      target: { kind: 'registry-credential', id: name },
      params: { registry: req.body.registry, username: req.body.username, created },
    },
    actor(req),
  );
  return {
    statusCode: created ? 201 : 200,
    headers: { 'cache-control': 'no-store' },
    body: { name, registry: req.body.registry, created, updatedAt: new Date(req.now).toISOString() },
  };
});
