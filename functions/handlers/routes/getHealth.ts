import { config } from '../../lib/config.js';
import { defineRoute } from '../../http/types.js';

/** Liveness of the API itself; touches nothing (post-deploy acceptance calls it). */
export default defineRoute('getHealth', async (req) => ({
  statusCode: 200,
  body: { status: 'ok', version: config.serviceVersion, time: new Date(req.now).toISOString() },
}));
