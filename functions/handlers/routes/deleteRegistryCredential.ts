/** Delete a registry credential at once. Targets that name it keep their version; their devices stop getting it. */
import { deleteRegistryCredential } from '../../adapters/registry-credential-store.js';
import { httpError } from '../../http/errors.js';
import { defineRoute } from '../../http/types.js';
import { recordOperatorAction } from '../../services/audit.js';
import { actor } from '../../http/principal.js';

export default defineRoute('deleteRegistryCredential', async (req) => {
  if (!(await deleteRegistryCredential(req.params.name)))
    throw httpError('not_found', `No registry credential ${req.params.name}`);
  await recordOperatorAction(
    { action: 'registry-credential.delete', target: { kind: 'registry-credential', id: req.params.name } },
    actor(req),
  );
  return { statusCode: 204 };
});
