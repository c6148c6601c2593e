import assert from 'node:assert/strict';
import { test } from 'node:test';
import { slackChannelFor } from '../../../functions/domain/alerting/slack-channel.js';
import { ALERT_ROUTES } from '../../../infra/spec.js';

test('the Slack channel follows the level (as the pager and warning routes do), never the severity', () => {
  assert.equal(slackChannelFor(3), 'critical');
  assert.equal(slackChannelFor(2), 'warning');
  assert.equal(slackChannelFor(1), 'default');
  // The SNS routes filter on `level` too: a resolution (INFO) of a level 3 alert pages and lands in #critical.
  assert.deepEqual(ALERT_ROUTES.pager.level, [{ numeric: ['=', 3] }]);
  assert.deepEqual(ALERT_ROUTES.warning.level, [{ numeric: ['=', 2] }]);
});
