/**
 * What `npm start` prints once the local fleet runs: where everything is, and the next steps for a new user.
 * Pure: returns the lines, so what it suggests can be checked without starting a fleet.
 */
import { join, relative } from 'node:path';
import { SCHEDULED_FUNCTIONS, type Fleet } from './fleet.js';

export interface BannerInput {
  fleet: Pick<Fleet, 'apiUrl' | 'operatorToken' | 'slack' | 'missing' | 'push'> &
    Partial<Pick<Fleet, 'slackChannels' | 'pager'>>;
  endpoint: string;
  /** What was restored from the last run, or '' for none. */
  restored: string;
  demoTargetFile: string;
  stateDir: string;
  scheduleSeconds: number;
  fresh: boolean;
  /** `--with-agent` is on: it does the register/target/agent steps itself, so they are not suggested again. */
  withAgent: boolean;
  /** Styling (a terminal gets bold and dim, a pipe plain text). */
  bold?: (s: string) => string;
  dim?: (s: string) => string;
  cwd?: string;
}

export function bannerLines(b: BannerInput): string[] {
  const bold = b.bold ?? ((s: string) => s);
  const dim = b.dim ?? ((s: string) => s);
  const rel = (p: string) => {
    const r = relative(b.cwd ?? process.cwd(), p);
    return r.startsWith('..') ? p : r;
  };
  const { fleet } = b;
  const lines: string[] = [];
  const out = (l = '') => void lines.push(l);
  const cli = 'npx fleetmedic';
  const slack = fleet.slack
    ? 'local receiver — alerts are printed in this terminal'
    : 'your Slack webhook (from --slack-webhook / FLEETMEDIC_SLACK_WEBHOOK_URL)';
  out();
  out(bold('Fleetmedic is running locally.'));
  out(`  API             ${bold(fleet.apiUrl)}`);
  if (fleet.push) out(`  Push channel    ${fleet.push.url} ${dim('(WebSocket; agents: --push-url)')}`);
  out(`  Operator token  ${fleet.operatorToken}`);
  out(dim(`                  (saved in ${rel(join(b.stateDir, 'local.json'))}; the CLI uses it automatically)`));
  out(`  AWS emulator    ${b.endpoint}`);
  out(`  Slack           ${slack}`);
  if (fleet.slack && fleet.slackChannels?.length) {
    // Where each level lands (docs/runbook.md "How alerts reach you"): the terminal shows the channel of each message.
    const own = fleet.slackChannels.map((c) => `#${c.channel}`).join(', ');
    out(dim(`                  channels: ${own} (levels 3 and 2, resolutions too), #alerts (the rest)`));
  }
  if (fleet.pager)
    out(
      `  Pager           level 3 alerts (filter of ALERT_ROUTES.pager) → queue ${fleet.pager.queueUrl.split('/').pop()} → ${fleet.pager.url}`,
    );
  out(
    `  Schedules       ${SCHEDULED_FUNCTIONS.filter((s) => !fleet.missing.some((m) => m.name === s)).join(', ') || '(none)'} every ${b.scheduleSeconds} s`,
  );
  out(`  State           ${b.restored || (b.fresh ? 'fresh start' : 'new (kept between runs; --fresh discards it)')}`);
  if (fleet.missing.length) {
    out();
    out(bold('Not available yet (handler modules missing):'));
    for (const m of fleet.missing)
      out(`  - ${m.name}: functions/handlers/${m.name}.ts does not exist → ${m.role} not running`);
  }
  out();
  out(`${bold('Next steps')} (in another terminal, from this directory):`);
  const tokenFile = rel(join(b.stateDir, 'pump-1.token'));
  out('  1. Register a device (its token is issued once; here it goes into a file):');
  out(`       ${cli} register pump-1 --token-file ${tokenFile}`);
  out('  2. Give it a target state (a good web service and a deliberately bad image):');
  out(`       ${cli} target pump-1 --file ${rel(b.demoTargetFile)}`);
  out('  3. Start an agent for it against your Docker engine (DOCKER_HOST):');
  out(
    `       npx fleetmedic-agent run --api-url ${fleet.apiUrl}${fleet.push ? ` --push-url ${fleet.push.url}` : ''} --device-id pump-1 --token-file ${tokenFile} --state-dir ${rel(join(b.stateDir, 'agent-pump-1'))}`,
  );
  out('     When you have seen ImagePullBackOff, fix the tag and watch it self-heal:');
  out(`       ${cli} target pump-1 --file ${rel(join(b.stateDir, 'demo-target-fixed.json'))}`);
  out('  4. Watch the fleet:');
  out(`       ${cli} devices            ${dim('# health, error badges, retry countdowns')}`);
  out(`       ${cli} device pump-1`);
  out(`       ${cli} events`);
  // Already running with the agent: point at what it does instead of suggesting the flag again.
  if (b.withAgent)
    out(`     ${bold('--with-agent')} does steps 1-3 for device demo-1: watch it with ${cli} device demo-1`);
  else out(`     Or let npm start do steps 1-3: ${bold('npm start -- --with-agent')}`);
  out();
  out(dim('Ctrl-C stops everything and saves state.'));
  return lines;
}
