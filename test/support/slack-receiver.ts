/**
 * The real local HTTP stand-in for Slack used by the alerting tests. It is the local fleet's receiver
 * (local/slack-receiver.ts, shared with `npm start`), re-exported so tests and the local fleet exercise the
 * same server: scripted answers (500 then 200, 429 with Retry-After), every request recorded with its time.
 */
export {
  startSlackReceiver,
  renderSlackMessage as renderReceivedSlackMessage,
  type SlackReceiver,
  type SlackMessage,
  type ScriptedAnswer,
} from '../../local/slack-receiver.js';
