/**
 * The daily summary, pure: when it is due (a local time in an IANA timezone) and what it says. The facts come from
 * Queries on keys and small counters (services/daily-summary.ts); this only decides and words.
 */

export interface DailySummarySchedule {
  /** `HH:MM`, 24 h clock, local to `timezone`. */
  time: string;
  /** IANA timezone, e.g. Europe/Paris. */
  timezone: string;
}

/** Local date and minutes since local midnight of an instant in a timezone. */
function localParts(now: number, timezone: string): { date: string; minutes: number } {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-CA', {
      timeZone: timezone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    })
      .formatToParts(new Date(now))
      .map((p) => [p.type, p.value]),
  );
  return { date: `${parts.year}-${parts.month}-${parts.day}`, minutes: Number(parts.hour) * 60 + Number(parts.minute) };
}

/** Throws on a time or timezone that cannot be used (the configuration read fails loudly at cold start). */
export function assertSchedule(s: DailySummarySchedule): DailySummarySchedule {
  const m = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(s.time);
  if (!m) throw new Error(`configuration error: DAILY_SUMMARY_TIME=${s.time} is not HH:MM (24 h)`);
  try {
    new Intl.DateTimeFormat('en-CA', { timeZone: s.timezone });
  } catch {
    throw new Error(`configuration error: DAILY_SUMMARY_TIMEZONE=${s.timezone} is not an IANA timezone`);
  }
  return s;
}

/** The local date whose summary is due at `now` (its time has passed), or undefined before the time. */
export function dueSummaryDay(now: number, s: DailySummarySchedule): string | undefined {
  const [h, min] = s.time.split(':').map(Number) as [number, number];
  const local = localParts(now, s.timezone);
  return local.minutes >= h * 60 + min ? local.date : undefined;
}

export interface SummaryFacts {
  day: string;
  timezone: string;
  devicesOffline: number;
  /** Service errors raised (or changed to) in the last 24 h, by type. */
  errorsByType: Record<string, number>;
  /** Devices with the most error changes in the last 24 h, most first. */
  worstDevices: { deviceId: string; errors: number }[];
  recoveries: { attempts: number; succeeded: number; successRate: number | null; byStrategy: string[] };
  circuitsOpened: number;
  deadLetters: { jobs: number; alerts: number };
  rollouts: { completed: number; aborted: number };
}

const pct = (r: number | null) => (r === null ? '-' : `${(r * 100).toFixed(1)} %`);

/** Nothing to report: no device offline, no error, no failed recovery, no circuit, no dead letter, no aborted rollout. */
export function allClear(f: SummaryFacts): boolean {
  return (
    f.devicesOffline === 0 &&
    Object.keys(f.errorsByType).length === 0 &&
    f.recoveries.attempts === f.recoveries.succeeded &&
    f.circuitsOpened === 0 &&
    f.deadLetters.jobs + f.deadLetters.alerts === 0 &&
    f.rollouts.aborted === 0
  );
}

/** The message: one line when all is clear, otherwise one line per topic. */
export function summaryText(f: SummaryFacts): string {
  const head = `Fleet daily summary ${f.day} (${f.timezone}, last 24 h)`;
  if (allClear(f)) {
    const extra = [
      f.recoveries.attempts ? `${f.recoveries.attempts} recoveries, all succeeded` : '',
      f.rollouts.completed ? `${f.rollouts.completed} rollout(s) completed` : '',
    ].filter(Boolean);
    return `${head}: all clear${extra.length ? ` (${extra.join('; ')})` : ''}.`;
  }
  const errorTotal = Object.values(f.errorsByType).reduce((a, b) => a + b, 0);
  const types = Object.entries(f.errorsByType)
    .sort(([a, x], [b, y]) => y - x || (a < b ? -1 : 1))
    .map(([t, n]) => `${t} ${n}`)
    .join(', ');
  const worst = f.worstDevices.map((d) => `${d.deviceId} (${d.errors})`).join(', ');
  const lines = [
    `${head}:`,
    `• Devices offline now: ${f.devicesOffline}`,
    `• Service errors: ${errorTotal}${errorTotal ? ` (${types}); worst: ${worst}` : ''}`,
    `• Recoveries: ${f.recoveries.attempts} attempts, ${pct(f.recoveries.successRate)} succeeded${f.recoveries.byStrategy.length ? ` (${f.recoveries.byStrategy.join(', ')})` : ''}`,
    `• Circuits opened: ${f.circuitsOpened}`,
    `• Dead letters waiting: jobs ${f.deadLetters.jobs}, alerts ${f.deadLetters.alerts}`,
    `• Rollouts finished: ${f.rollouts.completed} completed, ${f.rollouts.aborted} aborted`,
  ];
  const text = lines.join('\n');
  return text.length > 1000 ? `${text.slice(0, 999)}…` : text;
}
