import { config } from '../../lib/config.js';
import { defineRoute } from '../../http/types.js';
import { checkResources } from '../../services/health-check.js';

/**
 * Liveness of the API itself, touching nothing (post-deploy acceptance calls it); with deep=1, also whether every
 * table and queue it uses answers (services/health-check.ts): 503 names the ones that do not.
 */
export default defineRoute('getHealth', async (req) => {
  const base = { version: config.serviceVersion, time: new Date(req.now).toISOString() };
  if (req.query.deep !== '1') return { statusCode: 200, body: { status: 'ok', ...base } };
  const checks = await checkResources();
  const failing = checks.some((c) => !c.ok);
  return {
    statusCode: failing ? 503 : 200,
    body: { status: failing ? 'failing' : 'ok', ...base, checks },
    headers: { 'cache-control': 'no-store' },
  };
});
