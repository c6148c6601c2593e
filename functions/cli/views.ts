/** Human views of API responses (pure: data, `now` and style in, text out). */
import type * as z from 'zod/mini';
import type {
  DeadLetterList,
  DeviceDetail,
  DeviceList,
  FleetEvent,
  RedriveResponse,
  RegisterDeviceResponse,
  Marker,
  CircuitResetResponse,
  SilenceView,
} from '../contract/operator.js';
import type { Job } from '../contract/jobs.js';
import { inProgressTimeoutSeconds } from '../domain/job-lifecycle.js';
import type { TargetStateDocument } from '../contract/target-state.js';
import {
  circuitLabel,
  compactDetail,
  errorBadge,
  formatDuration,
  healthLabel,
  paint,
  relativeTime,
  statusLabel,
  table,
  type Style,
} from './format.js';

type Devices = z.output<typeof DeviceList>;
type Detail = z.output<typeof DeviceDetail>;
type Dlq = z.output<typeof DeadLetterList>;
type Redrive = z.output<typeof RedriveResponse>;

export function devicesView(list: Devices, now: number, style: Style): string {
  if (list.devices.length === 0) return 'No devices yet. Register one with: fleetmedic register <device-id>';
  const rows = list.devices.map((d) => [
    d.deviceId,
    healthLabel(d.health, style),
    circuitLabel(d.circuit, now, style),
    relativeTime(d.lastSeenAt, now),
    d.errors.length
      ? d.errors.map((e) => `${e.service}: ${errorBadge(e, now, style)}`).join(', ')
      : paint('-', 'dim', style),
    d.silencedUntil ? `until ${new Date(d.silencedUntil).toISOString().slice(0, 16).replace('T', ' ')}Z` : '',
  ]);
  const summary = countBy(list.devices.map((d) => d.health));
  const foot = `${list.devices.length} device(s): ${Object.entries(summary)
    .map(([k, v]) => `${v} ${k}`)
    .join(', ')}${list.nextToken ? ' (more: --next-token)' : ''}`;
  return `${table(['DEVICE', 'HEALTH', 'CIRCUIT', 'LAST SEEN', 'ERRORS', 'SILENCED'], rows, style)}\n${paint(foot, 'dim', style)}`;
}

export function deviceView(d: Detail, now: number, style: Style): string {
  const out: string[] = [];
  const kv = (k: string, v: string | undefined) =>
    v !== undefined && out.push(`${paint(k.padEnd(14), 'dim', style)}${v}`);
  out.push(paint(`${d.deviceId}${d.name ? ` (${d.name})` : ''}`, 'bold', style));
  kv('health', healthLabel(d.health, style));
  kv('last seen', d.lastSeenAt ? `${relativeTime(d.lastSeenAt, now)} (${d.lastSeenAt})` : 'never');
  kv('agent', d.agentVersion);
  kv(
    'uptime',
    d.uptimeSeconds !== undefined
      ? relativeTime(new Date(now - d.uptimeSeconds * 1000).toISOString(), now).replace(' ago', '')
      : undefined,
  );
  kv('clock offset', d.clockOffsetMs !== undefined ? `${d.clockOffsetMs} ms` : undefined);
  kv('target', d.targetVersion);
  kv('last seq', d.lastSeq !== undefined ? String(d.lastSeq) : undefined);
  kv(
    'circuit',
    `${circuitLabel(d.circuit, now, style)}${d.circuit.openCount ? ` · opened ${d.circuit.openCount}×` : ''}${d.circuit.openedAt ? ` · since ${relativeTime(d.circuit.openedAt, now)}` : ''}`,
  );
  if (d.labels && Object.keys(d.labels).length)
    kv(
      'labels',
      Object.entries(d.labels)
        .map(([k, v]) => `${k}=${v}`)
        .join(' '),
    );
  if (d.silencedUntil) kv('silenced', `until ${d.silencedUntil}`);

  out.push('', paint('Services', 'bold', style));
  if (d.services.length === 0) out.push('  (no report yet)');
  else {
    out.push(
      indent(
        table(
          ['SERVICE', 'STATUS', 'UP', 'IMAGE', 'RESTARTS', 'HEALTH CHECK', 'ERROR'],
          d.services.map((s) => [
            s.name,
            statusLabel(s.status, style),
            // How long the container has been running (kubectl's AGE for a pod): a short one next to a climbing
            // restart count is a crash loop in the making.
            s.startedAt && s.status === 'running' ? formatDuration(Math.max(0, now - Date.parse(s.startedAt))) : '-',
            s.image,
            `${s.restartCount}${s.recentRestarts ? ` (${s.recentRestarts} recent)` : ''}`,
            s.lastHealthCheck
              ? `${s.lastHealthCheck.healthy ? paint('ok', 'green', style) : paint('failing', 'red', style)} ${s.lastHealthCheck.kind} ${relativeTime(s.lastHealthCheck.checkedAt, now)}`
              : '-',
            s.error ? errorBadge(s.error, now, style) : '-',
          ]),
          style,
        ),
      ),
    );
    for (const s of d.services.filter((x) => x.error)) {
      const e = s.error!;
      out.push('', `  ${paint(s.name, 'bold', style)}: ${e.type} — ${e.message}`);
      out.push(
        `    since ${e.timestamp}; ${e.retryCount} attempt(s)${e.permanent ? '; permanent' : ''}${e.quarantined ? '; quarantined (slow retry)' : ''}`,
      );
      if (e.attempted.length) out.push(`    tried: ${e.attempted.join(' → ')}`);
    }
  }
  if (d.errorHistory?.length) {
    out.push('', paint('Error history', 'bold', style));
    out.push(
      indent(
        table(
          ['SERVICE', 'CHANGE', 'TYPE', 'SINCE', 'CLEARED', 'MESSAGE'],
          d.errorHistory.map((h) => [
            h.service,
            h.change === 'cleared' ? paint(h.change, 'green', style) : paint(h.change, 'red', style),
            h.previousType ? `${h.previousType} → ${h.type}` : h.type,
            h.since,
            h.clearedAt ?? '-',
            h.message.length > 80 ? `${h.message.slice(0, 79)}…` : h.message,
          ]),
          style,
        ),
      ),
    );
  }
  if (d.markers.length) {
    out.push('', paint('Markers', 'bold', style));
    for (const m of d.markers) out.push(`  ${markerLine(m, now)}`);
  }
  out.push('', paint('Recent events', 'bold', style));
  out.push(d.recentEvents.length ? indent(eventsTable(d.recentEvents, now, style, false)) : '  (none)');
  return out.join('\n');
}

export function markerLine(m: Marker, now: number): string {
  return `${m.kind} on ${m.service ? `${m.deviceId}/${m.service}` : `${m.deviceId} (whole device)`} until ${m.expiresAt} (${relativeTime(m.expiresAt, now)})${m.reason ? ` — ${m.reason}` : ''} by ${m.createdBy}`;
}

function eventsTable(events: FleetEvent[], now: number, style: Style, withDevice: boolean): string {
  const headers = withDevice ? ['WHEN', 'TYPE', 'DEVICE', 'SERVICE', 'DETAIL'] : ['WHEN', 'TYPE', 'SERVICE', 'DETAIL'];
  return table(
    headers,
    events.map((e) => [
      relativeTime(e.at, now),
      eventType(e.type, style),
      ...(withDevice ? [e.deviceId ?? '-'] : []),
      e.service ?? '-',
      compactDetail(e.detail),
    ]),
    style,
  );
}

function eventType(t: string, style: Style): string {
  if (/failed|opened|offline|escalated|timed_out|raised|error/.test(t)) return paint(t, 'red', style);
  if (/succeeded|closed|recovered|online|resolved|reset/.test(t)) return paint(t, 'green', style);
  return t;
}

export function eventsView(events: FleetEvent[], now: number, style: Style): string {
  if (events.length === 0) return 'No recent events.';
  return eventsTable(events, now, style, true);
}

export function jobView(j: Job, now: number, style: Style): string {
  const out = [
    `${paint(j.jobId, 'bold', style)}  ${statusLabel(j.status, style)}`,
    `${paint('device'.padEnd(14), 'dim', style)}${j.deviceId}`,
    `${paint('command'.padEnd(14), 'dim', style)}${j.type} ${compactDetail(j.params, 200)}`,
    `${paint('attempt'.padEnd(14), 'dim', style)}${j.attempt} (version ${j.version})`,
    `${paint('timeout'.padEnd(14), 'dim', style)}${inProgressTimeoutSeconds(j)} s in progress${j.inProgressTimeoutSeconds !== undefined ? ' (set at enqueue)' : ` (${j.type} default)`}`,
    `${paint('created'.padEnd(14), 'dim', style)}${j.createdAt} (${relativeTime(j.createdAt, now)})`,
    `${paint('updated'.padEnd(14), 'dim', style)}${j.updatedAt} (${relativeTime(j.updatedAt, now)})`,
    `${paint('correlation'.padEnd(14), 'dim', style)}${j.correlationId}`,
  ];
  if (j.statusDetails && Object.keys(j.statusDetails).length)
    out.push(`${paint('details'.padEnd(14), 'dim', style)}${compactDetail(j.statusDetails, 200)}`);
  out.push('', paint('History', 'bold', style));
  out.push(
    indent(
      table(
        ['ATTEMPT', 'STATUS', 'WHEN', 'BY', 'ERROR'],
        j.history.map((h) => [String(h.attempt), statusLabel(h.status, style), h.at, h.by, h.error ?? '']),
        style,
      ),
    ),
  );
  return out.join('\n');
}

export function enqueuedView(j: Job, style: Style): string {
  return `Enqueued ${paint(j.jobId, 'bold', style)} (${j.type} for ${j.deviceId}): ${statusLabel(j.status, style)}.\nFollow it with: fleetmedic jobs ${j.jobId}`;
}

export function dlqView(d: Dlq, now: number, style: Style): string {
  if (d.depth === 0 && d.messages.length === 0) return `Dead-letter queue '${d.queue}' is empty.`;
  const out = [`Dead-letter queue '${d.queue}': ${d.depth} message(s)`, ''];
  out.push(
    table(
      ['COUNT', 'PATTERN', 'SAMPLE JOB', 'DEVICE', 'RECEIVES'],
      d.groups.map((g) => [
        String(g.count),
        g.pattern,
        g.sample.jobId ?? '-',
        g.sample.deviceId ?? '-',
        String(g.sample.receiveCount),
      ]),
      style,
    ),
  );
  out.push('', paint('Messages', 'bold', style));
  out.push(
    indent(
      table(
        ['MESSAGE', 'JOB', 'DEVICE', 'RECEIVES', 'FIRST FAILED', 'REASON'],
        d.messages.map((m) => [
          m.messageId.slice(0, 8),
          m.jobId ?? '-',
          m.deviceId ?? '-',
          String(m.receiveCount),
          relativeTime(m.firstFailedAt, now),
          m.reason.slice(0, 80),
        ]),
        style,
      ),
    ),
  );
  out.push('', paint('Redrive with: fleetmedic dlq redrive [--filter <text>] [--dry-run]', 'dim', style));
  return out.join('\n');
}

export function redriveView(r: Redrive, style: Style): string {
  const head = r.dryRun
    ? `Dry run: ${r.matched} message(s) match; nothing was moved.`
    : `Redrove ${r.redriven} of ${r.matched} matching message(s) back to the source queue.`;
  if (!r.messages.length) return head;
  return `${head}\n${table(
    ['MESSAGE', 'JOB', 'DEVICE', 'PATTERN'],
    r.messages.map((m) => [m.messageId.slice(0, 8), m.jobId ?? '-', m.deviceId ?? '-', m.pattern]),
    style,
  )}`;
}

export function registeredView(
  r: z.output<typeof RegisterDeviceResponse>,
  apiUrl: string,
  tokenFile: string | undefined,
  style: Style,
): string {
  const lines = [`Registered ${paint(r.deviceId, 'bold', style)}.`];
  if (tokenFile) lines.push(`Device token written to ${tokenFile} (mode 600). It is not shown again.`);
  else lines.push('Device token (shown only this once; store it on the device):', `  ${r.token}`);
  const file = tokenFile ?? '<file holding the token>';
  lines.push(
    '',
    'Start an agent for it:',
    `  npx fleetmedic-agent run --api-url ${apiUrl} --device-id ${r.deviceId} --token-file ${file} --state-dir .fleetmedic/agent-${r.deviceId}`,
  );
  return lines.join('\n');
}

export function circuitResetView(r: z.output<typeof CircuitResetResponse>, now: number, style: Style): string {
  return `Circuit of ${paint(r.deviceId, 'bold', style)} is now ${circuitLabel(r.circuit, now, style)} (correlation ${r.correlationId}).`;
}

export function targetView(t: TargetStateDocument, deviceId: string, style: Style): string {
  const names = Object.keys(t.target.services);
  return `Target of ${paint(deviceId, 'bold', style)} is now version ${t.version}: ${names.length} service(s) (${names.join(', ')}).`;
}

export function currentTargetView(t: TargetStateDocument, deviceId: string, style: Style): string {
  const lines = [`Target of ${paint(deviceId, 'bold', style)}: version ${t.version}, set ${t.updatedAt}`];
  for (const [name, spec] of Object.entries(t.target.services).sort(([a], [b]) => a.localeCompare(b))) {
    lines.push(`  ${name}  ${spec.image}${spec.dependsOn.length ? `  (after ${spec.dependsOn.join(', ')})` : ''}`);
  }
  lines.push(
    `Edit: fleetmedic target ${deviceId} --json > t.json, change it, fleetmedic target ${deviceId} --file t.json`,
  );
  return lines.join('\n');
}

function indent(s: string, n = 2): string {
  return s
    .split('\n')
    .map((l) => ' '.repeat(n) + l)
    .join('\n');
}

function countBy(xs: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) out[x] = (out[x] ?? 0) + 1;
  return out;
}

type Silence = z.output<typeof SilenceView>;
const matcherText = (s: Silence) => s.matchers.map((m) => `${m.name}${m.op}"${m.value}"`).join(' ');

export function silencesView(list: Silence[], now: number, style: Style): string {
  if (list.length === 0) return 'No silences.';
  return table(
    ['ID', 'STATE', 'MATCHERS', 'ENDS', 'BY', 'COMMENT'],
    list.map((s) => [
      s.silenceId,
      s.state === 'active' ? paint('active', 'yellow', style) : s.state,
      matcherText(s),
      `${s.endsAt} (${relativeTime(s.endsAt, now)})`,
      s.createdBy,
      s.comment,
    ]),
    style,
  );
}

export function silenceLine(s: Silence, now: number): string {
  return `${s.silenceId} ${s.state}: ${matcherText(s)} until ${s.endsAt} (${relativeTime(s.endsAt, now)})`;
}
