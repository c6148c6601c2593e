/**
 * "Sync now" for one device over its push connection (docs/architecture.md "Push channel"): look up the device's
 * connection, post the hint, forget the connection when API Gateway says it is gone (410). Never throws and never
 * retries: whatever happens here, the device gets the same job or target on its next sync, so a failure costs
 * only latency. The hint carries the reason only (no job, no target, no secret).
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { postToConnection, pushConfigured } from '../adapters/connection-post.js';
import { getDeviceConnection, removeDeviceConnection } from '../adapters/connections-repo.js';
import type { PushNotification, PushReason } from '../contract/push.js';
import { logger, metrics } from '../lib/observability.js';

export type NotifyOutcome = 'sent' | 'no-connection' | 'gone' | 'failed' | 'disabled';

export async function notifyDevice(deviceId: string, reason: PushReason, now = Date.now()): Promise<NotifyOutcome> {
  if (!pushConfigured()) return 'disabled';
  const outcome = await attempt(deviceId, reason, now);
  metrics.addMetric(`push_notifications_${outcome.replace('-', '_')}`, MetricUnit.Count, 1);
  return outcome;
}

async function attempt(deviceId: string, reason: PushReason, now: number): Promise<NotifyOutcome> {
  let connectionId: string | undefined;
  try {
    connectionId = (await getDeviceConnection(deviceId, now))?.connectionId;
    if (!connectionId) return 'no-connection';
    const frame: PushNotification = { type: 'sync', reason };
    if ((await postToConnection(connectionId, frame)) === 'sent') return 'sent';
    // Closed without a $disconnect we saw (yet): forget it, once. The next notification finds no connection.
    await removeDeviceConnection(deviceId, connectionId);
    logger.info('push connection gone; removed', { deviceId, reason });
    return 'gone';
  } catch (err) {
    logger.warn('push notification failed; the device picks the change up on its next sync', {
      deviceId,
      reason,
      err: (err as Error)?.name ?? String(err),
    });
    return 'failed';
  }
}
