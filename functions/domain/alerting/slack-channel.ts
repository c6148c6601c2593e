/**
 * Which Slack channel an alert is posted to (docs/runbook.md "How alerts reach you"): level 3 to the critical
 * channel, level 2 to the warning channel, everything else (level 1: the daily summary) to the default one.
 * By level, not severity: a resolution is INFO but keeps the level of the alert it resolves, so it lands in the
 * channel that got the alert, as the pager and warning routes do (ALERT_ROUTES in infra/spec.ts). A channel with no
 * webhook of its own is posted to the default webhook; the adapter knows what is configured, not this function.
 */
import type { EscalationLevel } from './catalogue.js';

export type SlackChannel = 'critical' | 'warning' | 'default';

export function slackChannelFor(level: EscalationLevel): SlackChannel {
  return level === 3 ? 'critical' : level === 2 ? 'warning' : 'default';
}
