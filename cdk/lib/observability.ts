/**
 * Alarms (notifying on ALARM and on OK so on-call sees the recovery) and one dashboard. Each alarm has a route:
 * - `slack`: the alert topic (Slack, the alert e-mail);
 * - `page`: the alert topic and the paging topic (the pager, directly: no Slack forwarder in between);
 * - `alerting-path`: only the alerting-path topic, for alarms about the alerting path itself (the alerts DLQs, the
 *   Slack forwarder's errors and throttles, the age of the alerts queue): a broken path cannot carry its own alarm.
 * Thresholds come from the stage configuration; defaults are the runbook's (docs/runbook.md):
 * - HighJobFailureRate: jobs_fail / jobs_processed_total > 10 % over 5 minutes (EMF metrics, metric math);
 * - JobsStuckInQueue: oldest jobs-queue message OR oldest unpublished outbox entry older than 5 minutes;
 * - HighHTTPLatency: API p95 > 2 s;
 * - every dead-letter queue: any visible message;
 * - every function: Errors and Throttles;
 * - DevicesOffline: more devices offline than the configured threshold (the evaluator's devices_offline gauge,
 *   counted each minute from the sparse keys-only byOffline index; no table scan);
 * - RunnerDown-<function>: a scheduled function completed no run in two of its periods (its
 *   scheduled_runs_completed heartbeat; missing data is breaching, because a stopped schedule emits nothing);
 * - ApiServerErrors: more than the configured percentage of API requests answered 5xx over 5 minutes;
 * - DynamoThrottles-<table> / DynamoSystemErrors-<table>: any throttled request or DynamoDB-side error;
 * - AlertsQueueAge: the oldest alert waiting for the Slack forwarder is older than the configured age.
 * The EMF metrics carry the Powertools `service` dimension (= the emitting function's name, never a device id).
 *
 * Longer than the ~400 lines a file keeps to: every alarm is defined beside the metric it reads and the route
 * it notifies, so a renamed metric or route cannot leave an alarm watching nothing.
 */
import { Duration } from 'aws-cdk-lib';
import type { HttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import { Operation, type ITable } from 'aws-cdk-lib/aws-dynamodb';
import {
  Alarm,
  AlarmStatusWidget,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  MathExpression,
  Metric,
  TextWidget,
  TreatMissingData,
  type IMetric,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { FUNCTIONS, type ScheduledFunctionName } from '../../infra/spec.js';
import type { FleetFunction, FunctionName } from './fleet-function.js';

/**
 * The functions whose code moves a job to a terminal state and so emits jobs_processed_total / jobs_fail
 * (test/unit/cdk/handler-needs.test.ts checks this list against the handlers' code).
 */
export const JOB_OUTCOME_EMITTERS: readonly FunctionName[] = [
  'device-api',
  'job-dispatcher',
  'job-timeout-sweeper',
  'operator-api',
];
/** The function that emits outbox_oldest_unpublished_age_seconds / outbox_unpublished_count. */
export const OUTBOX_EMITTER: FunctionName = 'outbox-publisher';
/** The function that emits OFFLINE_METRIC, and the metric: how many devices are offline (a gauge, each run). */
export const OFFLINE_EMITTER: FunctionName = 'health-evaluator';
export const OFFLINE_METRIC = 'devices_offline';
/** The flow beside it (same emitter): devices found offline in one run, for the dashboard. */
export const OFFLINE_FLOW_METRIC = 'devices_marked_offline';
/**
 * The heartbeat every scheduled function publishes once per finished run (RUN_COMPLETED_METRIC in
 * functions/lib/observability.ts, which test/unit/cdk/stack.test.ts holds equal; not imported, so synth does not
 * load the Powertools runtime).
 */
export const HEARTBEAT_METRIC = 'scheduled_runs_completed';
/** Runs a scheduled function may miss in a row before RunnerDown fires (one late run is not an outage). */
export const MISSED_RUNS_BEFORE_ALARM = 2;
/**
 * The DynamoDB operations the functions call (cdk/lib/access.ts DynamoAction): the system-errors alarm sums
 * exactly these (a metric-math alarm takes at most 10 metrics, so not every operation DynamoDB knows).
 */
const DYNAMO_OPERATIONS = [
  Operation.GET_ITEM,
  Operation.BATCH_GET_ITEM,
  Operation.QUERY,
  Operation.PUT_ITEM,
  Operation.UPDATE_ITEM,
  Operation.DELETE_ITEM,
];

/** Which topics an alarm notifies (see the top of this file). */
export type AlarmRoute = 'slack' | 'page' | 'alerting-path';
/** The function that delivers alerts to Slack: alarms about it take the alerting-path route. */
export const ALERTING_PATH_FUNCTION: FunctionName = 'slack-forwarder';

export interface ObservabilityProps {
  stage: string;
  namespace: string;
  topics: { alerts: ITopic; paging: ITopic; alertingPath: ITopic };
  functions: FleetFunction[];
  jobsQueue: IQueue;
  /** The queue the Slack forwarder reads (AlertsQueueAge). */
  alertsQueue: IQueue;
  deadLetterQueues: { label: string; queue: IQueue; route: AlarmRoute }[];
  httpApi: HttpApi;
  /** The functions run on a schedule: each gets a RunnerDown alarm on its heartbeat. */
  scheduledFunctions: ScheduledFunctionName[];
  tables: { label: string; table: ITable }[];
  thresholds: {
    jobFailureRatePercent: number;
    stuckJobAgeSeconds: number;
    httpLatencyP95Ms: number;
    offlineDevicesThreshold: number;
    apiServerErrorRatePercent: number;
    alertsQueueAgeSeconds: number;
  };
}

/** How an alarm compares and what no data means; the default is "above the threshold once, no data is fine". */
interface AlarmShape {
  comparisonOperator?: ComparisonOperator;
  evaluationPeriods?: number;
  treatMissingData?: TreatMissingData;
  /** Default: `slack`. */
  route?: AlarmRoute;
}

export class Observability extends Construct {
  readonly alarms: Alarm[] = [];
  readonly dashboard: Dashboard;
  private readonly props: ObservabilityProps;

  constructor(scope: Construct, id: string, props: ObservabilityProps) {
    super(scope, id);
    this.props = props;
    const { thresholds: t } = props;
    const fiveMin = Duration.minutes(5);
    const oneMin = Duration.minutes(1);

    // ---- HighJobFailureRate: sum over every emitting function, then the ratio (no data → 0, not an alarm).
    const sumOf = (metricName: string, prefix: string) => {
      const usingMetrics: Record<string, IMetric> = {};
      JOB_OUTCOME_EMITTERS.forEach((fn, i) => {
        usingMetrics[`${prefix}${i}`] = this.emf(metricName, fn, 'Sum', fiveMin);
      });
      return {
        usingMetrics,
        expression: Object.keys(usingMetrics)
          .map((k) => `FILL(${k}, 0)`)
          .join(' + '),
      };
    };
    const failed = sumOf('jobs_fail', 'f');
    const processed = sumOf('jobs_processed_total', 'p');
    const failureRate = new MathExpression({
      label: 'job failure rate (%)',
      expression: `IF((${processed.expression}) > 0, 100 * (${failed.expression}) / (${processed.expression}), 0)`,
      usingMetrics: { ...failed.usingMetrics, ...processed.usingMetrics },
      period: fiveMin,
    });
    this.alarm(
      'HighJobFailureRate',
      failureRate,
      t.jobFailureRatePercent,
      `More than ${t.jobFailureRatePercent} % of jobs failed over 5 minutes.`,
      { route: 'page' },
    );

    // ---- JobsStuckInQueue: the queue's oldest message or the outbox's oldest unpublished job.
    const oldestQueued = props.jobsQueue.metricApproximateAgeOfOldestMessage({ statistic: 'Maximum', period: oneMin });
    const oldestUnpublished = this.emf('outbox_oldest_unpublished_age_seconds', OUTBOX_EMITTER, 'Maximum', oneMin);
    const stuckAge = new MathExpression({
      label: 'oldest queued or unpublished job (s)',
      expression: 'MAX([FILL(queued, 0), FILL(outbox, 0)])',
      usingMetrics: { queued: oldestQueued, outbox: oldestUnpublished },
      period: oneMin,
    });
    this.alarm(
      'JobsStuckInQueue',
      stuckAge,
      t.stuckJobAgeSeconds,
      `A job has waited in the queue or the outbox for more than ${t.stuckJobAgeSeconds} s.`,
      { route: 'page' },
    );

    // ---- HighHTTPLatency
    const p95 = props.httpApi.metricLatency({ statistic: 'p95', period: fiveMin });
    this.alarm(
      'HighHTTPLatency',
      p95,
      t.httpLatencyP95Ms,
      `API p95 latency above ${t.httpLatencyP95Ms} ms over 5 minutes.`,
    );

    // ---- Dead letters: anything there needs a person (or a redrive).
    for (const { label, queue, route } of props.deadLetterQueues) {
      const depth = queue.metricApproximateNumberOfMessagesVisible({ statistic: 'Maximum', period: oneMin });
      this.alarm(
        `DeadLetters-${label}`,
        depth,
        0,
        `Messages in the ${label} dead-letter queue: inspect with \`fleetmedic dlq list\`.`,
        { route },
      );
    }

    // ---- AlertsQueueAge: alerts wait for the Slack forwarder (Slack down or refusing, forwarder failing).
    this.alarm(
      'AlertsQueueAge',
      props.alertsQueue.metricApproximateAgeOfOldestMessage({ statistic: 'Maximum', period: oneMin }),
      t.alertsQueueAgeSeconds,
      `An alert has waited more than ${t.alertsQueueAgeSeconds} s for delivery to Slack.`,
      { route: 'alerting-path' },
    );

    // ---- Per function: errors and throttles.
    for (const f of props.functions) {
      const route: AlarmRoute = f.functionName === ALERTING_PATH_FUNCTION ? 'alerting-path' : 'slack';
      this.alarm(
        `Errors-${f.functionName}`,
        f.fn.metricErrors({ statistic: 'Sum', period: fiveMin }),
        0,
        `${f.functionName} raised errors.`,
        { route },
      );
      this.alarm(
        `Throttles-${f.functionName}`,
        f.fn.metricThrottles({ statistic: 'Sum', period: fiveMin }),
        0,
        `${f.functionName} was throttled.`,
        { route },
      );
    }

    // ---- Devices offline (a gauge the evaluator emits each run).
    const offline = this.emf(OFFLINE_METRIC, OFFLINE_EMITTER, 'Maximum', fiveMin);
    this.alarm(
      'DevicesOffline',
      offline,
      t.offlineDevicesThreshold,
      `More than ${t.offlineDevicesThreshold} devices are offline.`,
    );

    // ---- RunnerDown: the watchman's watchman. Each scheduled function publishes one heartbeat per completed
    // run; a schedule that stopped, a function that keeps failing or timing out, or an account out of
    // concurrency all publish nothing, so missing data counts as a missed run.
    for (const name of props.scheduledFunctions) {
      const trigger = FUNCTIONS[name].trigger;
      if (trigger.kind !== 'schedule') throw new Error(`${name} has no schedule in infra/spec.ts`);
      const period = Duration.minutes(trigger.everyMinutes);
      this.alarm(
        `RunnerDown-${name}`,
        this.emf(HEARTBEAT_METRIC, name, 'Sum', period),
        1,
        `${name} completed no run in ${MISSED_RUNS_BEFORE_ALARM} periods of ${trigger.everyMinutes} min (no ${HEARTBEAT_METRIC} heartbeat).`,
        {
          comparisonOperator: ComparisonOperator.LESS_THAN_THRESHOLD,
          evaluationPeriods: MISSED_RUNS_BEFORE_ALARM,
          treatMissingData: TreatMissingData.BREACHING,
          route: 'page',
        },
      );
    }

    // ---- ApiServerErrors: 5xx answers as a share of all requests (no requests → 0, not an alarm).
    const serverErrorRate = new MathExpression({
      label: 'API 5xx rate (%)',
      expression: 'IF(FILL(requests, 0) > 0, 100 * FILL(errors, 0) / requests, 0)',
      usingMetrics: {
        errors: props.httpApi.metricServerError({ statistic: 'Sum', period: fiveMin }),
        requests: props.httpApi.metricCount({ statistic: 'Sum', period: fiveMin }),
      },
      period: fiveMin,
    });
    this.alarm(
      'ApiServerErrors',
      serverErrorRate,
      t.apiServerErrorRatePercent,
      `More than ${t.apiServerErrorRatePercent} % of API requests answered 5xx over 5 minutes.`,
      { route: 'page' },
    );

    // ---- DynamoDB: throttled requests (on-demand tables throttle too, at partition or account limits) and
    // errors on DynamoDB's side, per table.
    for (const { label, table } of props.tables) {
      const throttles = new MathExpression({
        label: `${label} throttle events`,
        expression: 'FILL(reads, 0) + FILL(writes, 0)',
        usingMetrics: {
          reads: table.metric('ReadThrottleEvents', { statistic: 'Sum', period: fiveMin }),
          writes: table.metric('WriteThrottleEvents', { statistic: 'Sum', period: fiveMin }),
        },
        period: fiveMin,
      });
      this.alarm(`DynamoThrottles-${label}`, throttles, 0, `DynamoDB throttled requests on the ${label} table.`);
      this.alarm(
        `DynamoSystemErrors-${label}`,
        table.metricSystemErrorsForOperations({ operations: DYNAMO_OPERATIONS, period: fiveMin }),
        0,
        `DynamoDB answered 5xx (system errors) on the ${label} table.`,
        { route: 'page' },
      );
    }

    this.dashboard = this.buildDashboard(failureRate, stuckAge, p95);
  }

  /** An EMF metric as Powertools emits it: namespace + the `service` dimension. */
  emf(metricName: string, service: FunctionName, statistic: string, period: Duration): Metric {
    return new Metric({ namespace: this.props.namespace, metricName, dimensionsMap: { service }, statistic, period });
  }

  private alarm(name: string, metric: IMetric, threshold: number, description: string, shape: AlarmShape = {}): Alarm {
    const evaluationPeriods = shape.evaluationPeriods ?? 1;
    const alarm = new Alarm(this, name, {
      alarmName: `fleetmedic-${this.props.stage}-${name}`,
      alarmDescription: description,
      metric,
      threshold,
      comparisonOperator: shape.comparisonOperator ?? ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods,
      datapointsToAlarm: evaluationPeriods,
      treatMissingData: shape.treatMissingData ?? TreatMissingData.NOT_BREACHING,
    });
    const { topics } = this.props;
    const route = shape.route ?? 'slack';
    const targets =
      route === 'alerting-path'
        ? [topics.alertingPath]
        : route === 'page'
          ? [topics.alerts, topics.paging]
          : [topics.alerts];
    for (const topic of targets) {
      const action = new SnsAction(topic);
      alarm.addAlarmAction(action);
      alarm.addOkAction(action);
    }
    this.alarms.push(alarm);
    return alarm;
  }

  /** A SEARCH over every function's copy of an EMF metric (the dashboard may search; alarms may not). */
  private search(metricName: string, statistic: string, label: string): MathExpression {
    return this.searchExpr(`{"${this.props.namespace}",service} MetricName="${metricName}"`, statistic, label);
  }

  private searchExpr(query: string, statistic: string, label: string): MathExpression {
    return new MathExpression({
      expression: `SEARCH('${query}', '${statistic}', 60)`,
      label,
      usingMetrics: {},
      period: Duration.minutes(1),
    });
  }

  private buildDashboard(failureRate: IMetric, stuckAge: IMetric, p95: IMetric): Dashboard {
    const { props } = this;
    const dash = new Dashboard(this, 'Dashboard', {
      dashboardName: `fleetmedic-${props.stage}`,
      defaultInterval: Duration.hours(3),
    });
    const w = (title: string, left: IMetric[], right: IMetric[] = [], width = 12) =>
      new GraphWidget({ title, left, right, width, height: 6 });
    dash.addWidgets(
      new TextWidget({
        markdown: `# Fleetmedic ${props.stage}\nFleet health, jobs, circuits, queues and latency. Runbook: docs/runbook.md. Alarms notify the alert topic (Slack), the paging topic or the alerting-path topic (docs/runbook.md).`,
        width: 24,
        height: 2,
      }),
    );
    dash.addWidgets(new AlarmStatusWidget({ title: 'Alarms', alarms: this.alarms, width: 24, height: 4 }));
    dash.addWidgets(
      w(
        'Fleet health: devices offline (going offline), recoveries and escalations',
        [
          this.emf(OFFLINE_METRIC, OFFLINE_EMITTER, 'Maximum', Duration.minutes(1)),
          this.emf(OFFLINE_FLOW_METRIC, OFFLINE_EMITTER, 'Sum', Duration.minutes(1)),
        ],
        [this.searchExpr(`{"${props.namespace}",service} service="${OFFLINE_EMITTER}"`, 'Sum', 'evaluator')],
      ),
      w(
        'Circuits: breaker state (1 = open) and transitions',
        [this.search('circuit_breaker_state', 'Maximum', 'circuit_breaker_state')],
        [this.search('circuit_breaker_state', 'SampleCount', 'transitions')],
      ),
    );
    dash.addWidgets(
      w('Jobs: enqueued, processed, failed', [
        this.search('jobs_enqueued_total', 'Sum', 'enqueued'),
        this.search('jobs_processed_total', 'Sum', 'processed'),
        this.search('jobs_fail', 'Sum', 'failed'),
      ]),
      w('Jobs: failure rate (%) and stuck age (s)', [failureRate], [stuckAge]),
    );
    dash.addWidgets(
      w(
        'Queues: jobs queue depth and age',
        [
          props.jobsQueue.metricApproximateNumberOfMessagesVisible({
            period: Duration.minutes(1),
            statistic: 'Maximum',
          }),
        ],
        [props.jobsQueue.metricApproximateAgeOfOldestMessage({ period: Duration.minutes(1), statistic: 'Maximum' })],
      ),
      w(
        'Queues: dead letters and outbox backlog',
        props.deadLetterQueues.map(({ label, queue }) =>
          queue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: 'Maximum', label }),
        ),
        [this.emf('outbox_unpublished_count', OUTBOX_EMITTER, 'Maximum', Duration.minutes(1))],
      ),
    );
    dash.addWidgets(
      w(
        'Latency: API p50 / p95 / p99 (ms)',
        [
          props.httpApi.metricLatency({ statistic: 'p50', period: Duration.minutes(1) }),
          p95,
          props.httpApi.metricLatency({ statistic: 'p99', period: Duration.minutes(1) }),
        ],
        [
          props.httpApi.metricClientError({ period: Duration.minutes(1) }),
          props.httpApi.metricServerError({ period: Duration.minutes(1) }),
        ],
      ),
      w(
        'Latency: function duration p95 (ms)',
        props.functions.map((f) =>
          f.fn.metricDuration({ statistic: 'p95', period: Duration.minutes(1), label: f.functionName }),
        ),
      ),
    );
    dash.addWidgets(
      w(
        'Functions: errors',
        props.functions.map((f) => f.fn.metricErrors({ period: Duration.minutes(1), label: f.functionName })),
      ),
      w(
        'Functions: throttles',
        props.functions.map((f) => f.fn.metricThrottles({ period: Duration.minutes(1), label: f.functionName })),
      ),
    );
    return dash;
  }
}
