/** Close a device's circuit by hand; recorded as `circuit.reset` with the operator and correlation id. */
import { resetCircuit } from '../../services/circuit-breaker.js';
import { getDeviceMeta } from '../../adapters/devices-repo.js';
import { toView } from '../../domain/circuit-breaker.js';
import { httpError } from '../../http/errors.js';
import { defineRoute } from '../../http/types.js';
import { actor, operatorName } from '../../http/principal.js';
import { recordOperatorAction } from '../../services/audit.js';

export default defineRoute('resetCircuit', async (req) => {
  const { deviceId } = req.params;
  if (!(await getDeviceMeta(deviceId))) throw httpError('not_found', `No device ${deviceId}`);
  const by = operatorName(req.principal);
  const { after } = await resetCircuit(deviceId, by, { correlationId: req.correlationId, source: by, now: req.now });
  await recordOperatorAction(
    { action: 'circuit.reset', target: { kind: 'circuit', id: deviceId }, deviceId },
    actor(req),
  );
  return { statusCode: 200, body: { deviceId, circuit: toView(after), correlationId: req.correlationId } };
});
