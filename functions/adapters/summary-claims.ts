/**
 * The daily summary's once-a-day claim in ALERTS_TABLE: `SUMMARY` / `<local date>`. The first run past the
 * summary time that creates it sends that day's summary; every later run finds it and does nothing. Kept 3 days.
 */
import { DeleteCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { documentClient } from '../lib/aws.js';
import { config } from '../lib/config.js';
import { writeIf } from './common/conditions.js';

export function claimSummaryDay(day: string, now: number): Promise<boolean> {
  return writeIf(
    new PutCommand({
      TableName: config.alertsTable,
      Item: {
        pk: 'SUMMARY',
        sk: day,
        claimedAt: new Date(now).toISOString(),
        expiresAt: Math.floor(now / 1000) + 3 * 86400,
      },
      ConditionExpression: 'attribute_not_exists(pk)',
    }),
  );
}

/** The summary could not be sent: the next run tries again. */
export async function releaseSummaryDay(day: string): Promise<void> {
  await documentClient().send(new DeleteCommand({ TableName: config.alertsTable, Key: { pk: 'SUMMARY', sk: day } }));
}
