/**
 * Lambda `device-api`: the routes devices call with their own token (reports, pending jobs, job updates,
 * target state, token renewal). Init is cheap: no I/O at import; AWS clients are created on first use.
 */
import { createApiHandler } from '../http/api-handler.js';
import { authenticateDevice } from '../http/device-auth.js';
import getPendingJobs from './routes/getPendingJobs.js';
import getTargetState from './routes/getTargetState.js';
import postReport from './routes/postReport.js';
import renewDeviceToken from './routes/renewDeviceToken.js';
import updateJobExecution from './routes/updateJobExecution.js';

export const handler = createApiHandler('device-api', [postReport, getPendingJobs, updateJobExecution, getTargetState, renewDeviceToken], { device: authenticateDevice });
