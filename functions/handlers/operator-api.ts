/**
 * Lambda `operator-api`: operator routes (IAM in AWS, bearer token from a secret locally) and the public
 * health route. Init is cheap: no I/O at import; AWS clients are created on first use.
 */
import { createApiHandler } from '../http/api-handler.js';
import { authenticateOperator } from '../http/operator-auth.js';
import cancelJob from './routes/cancelJob.js';
import createSilence from './routes/createSilence.js';
import expireSilence from './routes/expireSilence.js';
import listSilences from './routes/listSilences.js';
import deleteMarker from './routes/deleteMarker.js';
import decommissionDevice from './routes/decommissionDevice.js';
import deleteRegistryCredential from './routes/deleteRegistryCredential.js';
import enqueueJob from './routes/enqueueJob.js';
import getDevice from './routes/getDevice.js';
import getHealth from './routes/getHealth.js';
import getJob from './routes/getJob.js';
import getRecentEvents from './routes/getRecentEvents.js';
import getRecoveryStats from './routes/getRecoveryStats.js';
import listDeadLetters from './routes/listDeadLetters.js';
import listDevices from './routes/listDevices.js';
import putRegistryCredential from './routes/putRegistryCredential.js';
import putTargetState from './routes/putTargetState.js';
import redriveDeadLetters from './routes/redriveDeadLetters.js';
import registerDevice from './routes/registerDevice.js';
import resetCircuit from './routes/resetCircuit.js';
import rotateDeviceToken from './routes/rotateDeviceToken.js';
import setMarker from './routes/setMarker.js';
import abortRollout from './routes/abortRollout.js';
import createRollout from './routes/createRollout.js';
import getRollout from './routes/getRollout.js';
import listRollouts from './routes/listRollouts.js';
import pauseRollout from './routes/pauseRollout.js';
import resumeRollout from './routes/resumeRollout.js';
import resetAllCircuits from './routes/resetAllCircuits.js';
import retryJob from './routes/retryJob.js';
import deadLetterJob from './routes/deadLetterJob.js';

export const handler = createApiHandler(
  'operator-api',
  [
    getHealth,
    registerDevice,
    listDevices,
    getDevice,
    decommissionDevice,
    rotateDeviceToken,
    putTargetState,
    putRegistryCredential,
    deleteRegistryCredential,
    enqueueJob,
    getJob,
    cancelJob,
    retryJob,
    deadLetterJob,
    getRecentEvents,
    getRecoveryStats,
    resetCircuit,
    resetAllCircuits,
    setMarker,
    deleteMarker,
    listDeadLetters,
    redriveDeadLetters,
    createSilence,
    listSilences,
    expireSilence,
    createRollout,
    listRollouts,
    getRollout,
    pauseRollout,
    resumeRollout,
    abortRollout,
  ],
  { operator: authenticateOperator },
);
