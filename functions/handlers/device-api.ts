/**
 * Lambda `device-api`: the routes devices call with their own token (sync; and the earlier protocol's reports,
 * pending jobs, job updates, target state; token renewal). Init is cheap: no I/O at import; AWS clients are created
 * on first use.
 */
import { createApiHandler } from '../http/api-handler.js';
import { config } from '../lib/config.js';
import { authenticateDevice } from '../http/device-auth.js';
import getPendingJobs from './routes/getPendingJobs.js';
import getTargetState from './routes/getTargetState.js';
import postReport from './routes/postReport.js';
import renewDeviceToken from './routes/renewDeviceToken.js';
import syncDevice from './routes/syncDevice.js';
import updateJobExecution from './routes/updateJobExecution.js';

// A liveness configuration that contradicts itself fails the cold start, naming its keys (domain/liveness.ts).
void config.liveness;

export const handler = createApiHandler(
  'device-api',
  [syncDevice, postReport, getPendingJobs, updateJobExecution, getTargetState, renewDeviceToken],
  { device: authenticateDevice },
);
