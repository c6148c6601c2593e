import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startSlackReceiver } from '../../../local/slack-receiver.js';

const post = (url: string, body: unknown, contentType = 'application/json') =>
  fetch(url, {
    method: 'POST',
    headers: { 'content-type': contentType },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

test('answers like Slack, prints Block Kit readably, and scripts failures for retry tests', async () => {
  const printed: string[] = [];
  const slack = await startSlackReceiver({ print: (l) => printed.push(l), color: false });
  try {
    const blocks = {
      text: 'fallback',
      blocks: [
        { type: 'header', text: { type: 'plain_text', text: 'CRITICAL: nodered on pump-1' } },
        {
          type: 'section',
          text: {
            type: 'mrkdwn',
            text: '*CrashLoopBackOff* since 10:15 — see <https://runbook.example/crash|runbook>',
          },
        },
        {
          type: 'section',
          fields: [
            { type: 'mrkdwn', text: '*Tried*\nrestart, recreate' },
            { type: 'mrkdwn', text: '*Next*\nmanual intervention' },
          ],
        },
        { type: 'context', elements: [{ type: 'mrkdwn', text: 'dedupe `svc:pump-1:nodered`' }] },
      ],
    };
    const ok = await post(slack.url, blocks);
    assert.equal(ok.status, 200);
    assert.equal(await ok.text(), 'ok');
    const m = await slack.waitFor((x) => x.text.includes('nodered'));
    assert.match(m.text, /^CRITICAL: nodered on pump-1$/m);
    assert.match(m.text, /CrashLoopBackOff since 10:15 — see runbook \(https:\/\/runbook\.example\/crash\)/);
    assert.match(m.text, /• Tried\n {4}restart, recreate/);
    assert.match(m.text, /dedupe svc:pump-1:nodered/);
    assert.equal(printed.length, 1);
    assert.match(printed[0]!, /── Slack alert/);

    assert.equal((await post(slack.url, '{nope')).status, 400);
    assert.equal(await (await post(slack.url, {})).text(), 'no_text');
    const form = await post(
      slack.url,
      `payload=${encodeURIComponent(JSON.stringify({ text: 'form *encoded*' }))}`,
      'application/x-www-form-urlencoded',
    );
    assert.equal(form.status, 200);
    assert.equal(slack.messages.at(-1)!.text, 'form encoded');

    slack.script({ status: 500 }, { status: 429, retryAfter: 2 });
    const r1 = await post(slack.url, { text: 'retry me' });
    assert.equal(r1.status, 500);
    const r2 = await post(slack.url, { text: 'retry me' });
    assert.equal(r2.status, 429);
    assert.equal(r2.headers.get('retry-after'), '2');
    const r3 = await post(slack.url, { text: 'retry me' });
    assert.equal(r3.status, 200);
    assert.equal(slack.messages.filter((x) => x.text === 'retry me').length, 1, 'failed attempts are not shown');
    assert.deepEqual(
      slack.requests.filter((x) => x.text === 'retry me').map((x) => x.status),
      [500, 429, 200],
    );
    await assert.rejects(
      slack.waitFor((x) => x.text === 'never', 100),
      /no matching Slack message/,
    );
  } finally {
    await slack.close();
  }
});

test('each webhook path is a channel; the pager channel takes SNS notifications as an HTTPS pager would', async () => {
  const printed: string[] = [];
  const slack = await startSlackReceiver({ print: (l) => printed.push(l), color: false });
  try {
    assert.equal((await post(slack.channelUrl('critical'), { text: 'to critical' })).status, 200);
    assert.equal((await post(slack.url, { text: 'to default' })).status, 200);
    assert.deepEqual(
      slack.messages.map((m) => [m.channel, m.text]),
      [
        ['critical', 'to critical'],
        ['alerts', 'to default'],
      ],
    );
    assert.match(printed[0]!, /── Slack alert #critical/);
    assert.throws(() => slack.channelUrl('../x'), /letters, digits and - only/);

    const event = { summary: 'broker down on 40 devices', nextAction: 'Check the broker', level: 3 };
    const page = await post(slack.channelUrl('pager'), {
      Type: 'Notification',
      MessageId: 'm-1',
      Subject: '[CRITICAL] ServiceCrashLoop x40',
      Message: JSON.stringify(event),
    });
    assert.equal(page.status, 200);
    const m = await slack.waitFor((x) => x.channel === 'pager');
    assert.equal(
      m.text,
      'PAGE [CRITICAL] ServiceCrashLoop x40\nbroker down on 40 devices\nNext: Check the broker\nlevel 3',
    );
    assert.match(printed.at(-1)!, /── Pager .*\n {2}PAGE \[CRITICAL\] ServiceCrashLoop x40/);
    // Neither a Slack payload nor a notification: refused as before.
    assert.equal(await (await post(slack.channelUrl('pager'), { Type: 'SubscriptionConfirmation' })).text(), 'no_text');
  } finally {
    await slack.close();
  }
});
