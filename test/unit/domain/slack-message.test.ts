import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { resolvedEvent, decideRaise } from '../../../functions/domain/alerting/dedupe.js';
import { toAlertEvent } from '../../../functions/domain/alerting/event.js';
import { groupedEvent } from '../../../functions/domain/alerting/groups.js';
import { escapeMrkdwn, renderSlackMessage } from '../../../functions/domain/alerting/slack-message.js';
import { renderSlackMessage as asSlackShowsIt } from '../../../local/slack-receiver.js';

const T0 = Date.parse('2025-01-01T10:00:00Z');
const alert = toAlertEvent(
  {
    alertName: 'ServiceCrashLoop',
    level: 3,
    deviceId: 'dev-1',
    service: 'mosquitto',
    summary: 'mosquitto <crashed> & burned',
    since: T0 - 90 * 60_000,
    tried: ['cloud: restart-service #1', 'cloud: restart-service #2'],
    correlationId: 'corr-1',
  },
  { notificationId: 'n1', now: T0, suppressedCount: 4 },
);

describe('Slack Block Kit rendering', () => {
  test('a firing alert: coloured, header with severity, what failed, tried, next action, runbook, key', () => {
    const p = renderSlackMessage(alert, { runbookBaseUrl: 'https://github.com/acme/fleetmedic/blob/main/' });
    assert.match(p.text, /^CRITICAL ServiceCrashLoop: /);
    const att = p.attachments[0]!;
    assert.equal(att.color, '#d00000');
    const json = JSON.stringify([...p.blocks, ...att.blocks]);
    assert.ok(p.blocks[0]!.type === 'header');
    assert.match(json, /CRITICAL ServiceCrashLoop · mosquitto on dev-1/);
    assert.match(json, /mosquitto &lt;crashed&gt; &amp; burned/, 'user text is escaped');
    assert.match(json, /Already tried/);
    assert.match(json, /restart-service #2/);
    assert.match(json, /Next action/);
    assert.match(json, /level 3 · engineering escalation/);
    assert.match(json, /Suppressed duplicates\*\\n4/);
    assert.match(json, /https:\/\/github.com\/acme\/fleetmedic\/blob\/main\/docs\/runbook.md#servicecrashloop/);
    assert.match(json, /corr-1/);
  });
  test('the title is shown once: the header block, not the notification text as well', () => {
    for (const e of [
      alert,
      groupedEvent(
        {
          groupKey: 'DeviceOffline',
          windowId: 'w',
          alertName: 'DeviceOffline',
          openedAt: T0,
          flushAt: T0,
          lastAt: T0,
          memberCount: 1,
          openCount: 1,
          maxLevel: 2,
          sample: [{ deviceId: 'pump-7', since: new Date(T0).toISOString() }],
          version: 1,
        },
        { now: T0 },
      ),
    ]) {
      const p = renderSlackMessage(e);
      const shown = asSlackShowsIt(p as never, false);
      const title = `${e.severity} ${e.alertName}`;
      assert.equal(shown.split(title).length - 1, 1, `"${title}" once in:\n${shown}`);
      assert.match(p.text, new RegExp(`^${title}`), 'the notification text still carries the title');
    }
  });
  test('a relative runbook link without base URL is shown as text, not as a broken button', () => {
    const p = renderSlackMessage(alert);
    const blocks = p.attachments[0]!.blocks;
    assert.equal(
      blocks.some((b) => b.type === 'actions'),
      false,
    );
    assert.match(JSON.stringify(blocks), /docs\/runbook.md#servicecrashloop/);
  });
  test('a resolved message is green and has no next action', () => {
    const rec = decideRaise(
      undefined,
      { alertName: 'DeviceOffline', level: 2, deviceId: 'd', summary: 's', since: T0, dedupeKey: 'k' },
      T0,
    ).record;
    const p = renderSlackMessage(resolvedEvent(rec, { notificationId: 'r', now: T0 + 120_000 }));
    assert.equal(p.attachments[0]!.color, '#2eb886');
    assert.match(p.text, /^RESOLVED DeviceOffline/);
    assert.doesNotMatch(JSON.stringify(p), /Next action/);
  });
  test('a grouped alert shows the count and the sample, and stays within Slack limits', () => {
    const sample = Array.from({ length: 10 }, (_, i) => ({
      deviceId: `device-${i}`,
      since: new Date(T0).toISOString(),
    }));
    const e = groupedEvent(
      {
        groupKey: 'DeviceOffline',
        windowId: 'w',
        alertName: 'DeviceOffline',
        openedAt: T0,
        flushAt: T0,
        lastAt: T0,
        memberCount: 100,
        openCount: 100,
        maxLevel: 2,
        sample,
        version: 1,
      },
      { now: T0 + 60_000 },
    );
    const p = renderSlackMessage(e);
    const json = JSON.stringify(p);
    assert.match(json, /DeviceOffline ×100/);
    assert.match(json, /Sample \(10 of 100\)/);
    assert.match(json, /and 90 more/);
    for (const b of p.attachments[0]!.blocks) {
      if (b.type === 'header') assert.ok(b.text.text.length <= 150);
      if (b.type === 'section' && b.text) assert.ok(b.text.text.length <= 3000);
      if (b.type === 'section' && b.fields) assert.ok(b.fields.length <= 10);
    }
  });
  test('very long text is clipped', () => {
    const long = toAlertEvent(
      {
        alertName: 'RecoveryFailed',
        level: 2,
        summary: 'x'.repeat(1000),
        since: T0,
        tried: Array(30).fill('y'.repeat(400)),
      },
      { notificationId: 'l', now: T0 },
    );
    for (const b of renderSlackMessage(long).attachments[0]!.blocks)
      if (b.type === 'section' && b.text) assert.ok(b.text.text.length <= 3000);
  });
  test('escapeMrkdwn escapes only the three control characters', () => {
    assert.equal(escapeMrkdwn('a<b>&c *d*'), 'a&lt;b&gt;&amp;c *d*');
  });
});
