/**
 * The health evaluator's on-call duties in the synthesized template: the daily summary's schedule (infra/spec.ts
 * DAILY_SUMMARY, overridable per stage, checked at synth) and the RecoverySuccessRateLow policy reach it as
 * settings; it may read the DLQs' depth and the events' byType index for the summary, and nothing more on them.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Match } from 'aws-cdk-lib/assertions';
import { DAILY_SUMMARY } from '../../../infra/spec.js';
import { defaultStack, synthesize } from './support/stack.js';

const evaluatorEnv = (vars: Record<string, string>) => ({
  Environment: { Variables: Match.objectLike({ POWERTOOLS_SERVICE_NAME: 'health-evaluator', ...vars }) },
});

test('the daily summary schedule defaults to infra/spec.ts and follows the stage context', () => {
  defaultStack().template.hasResourceProperties(
    'AWS::Lambda::Function',
    evaluatorEnv({
      DAILY_SUMMARY_TIME: DAILY_SUMMARY.time,
      DAILY_SUMMARY_TIMEZONE: DAILY_SUMMARY.timezone,
      DAILY_SUMMARY_ALL_CLEAR: DAILY_SUMMARY.allClear,
    }),
  );
  const prod = synthesize({
    stage: 'prod',
    dailySummaryTime: '07:30',
    dailySummaryTimezone: 'Europe/Paris',
    dailySummaryAllClear: 'silent',
    recoveryAlertThreshold: '0.9',
    recoveryAlertMinAttempts: '50',
  });
  prod.template.hasResourceProperties(
    'AWS::Lambda::Function',
    evaluatorEnv({
      DAILY_SUMMARY_TIME: '07:30',
      DAILY_SUMMARY_TIMEZONE: 'Europe/Paris',
      DAILY_SUMMARY_ALL_CLEAR: 'silent',
      RECOVERY_ALERT_THRESHOLD: '0.9',
      RECOVERY_ALERT_MIN_ATTEMPTS: '50',
    }),
  );
});

test('a summary time or timezone that cannot be used fails the synth, naming it', () => {
  assert.throws(() => synthesize({ dailySummaryTime: '25:00' }), /DAILY_SUMMARY_TIME=25:00/);
  assert.throws(() => synthesize({ dailySummaryTimezone: 'Mars/Olympus' }), /Mars\/Olympus/);
  assert.throws(() => synthesize({ dailySummaryAllClear: 'maybe' }), /dailySummaryAllClear/);
});

test('the evaluator may query the events by type and read the DLQs depth', () => {
  const { template } = defaultStack();
  const policies = Object.values(
    (template.toJSON() as { Resources: Record<string, { Type: string; Properties: any }> }).Resources,
  ).filter((r) => r.Type === 'AWS::IAM::Policy' && JSON.stringify(r.Properties.Roles).includes('HealthEvaluator'));
  const statements = policies.flatMap((p) => p.Properties.PolicyDocument.Statement);
  const text = JSON.stringify(statements);
  assert.match(text, /index\/byType/);
  assert.ok(
    statements.some(
      (s: { Action: string | string[] }) =>
        (Array.isArray(s.Action) ? s.Action : [s.Action]).join() === 'sqs:GetQueueAttributes',
    ),
    text,
  );
});
