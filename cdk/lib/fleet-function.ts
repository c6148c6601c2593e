/**
 * One Lambda function of infra/spec.ts's list (timeout and memory from there), with the settings every function
 * shares: NodejsFunction bundled by the local esbuild (never Docker), nodejs22.x on arm64, minified ESM with a
 * source map beside it (read only when an error is logged, by functions/lib/source-mapped-stack.ts; no
 * --enable-source-maps, which parses it on every cold start), the AWS SDK v3 bundled and tree-shaken, Powertools
 * env, X-Ray active tracing, its own log group with retention, and its own role that can write only to that log group (no AWSLambdaBasicExecutionRole managed
 * policy: that would grant logs:* on every group).
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import { Grant, Policy, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import {
  Architecture,
  type CfnFunction,
  Runtime,
  type DestinationConfig,
  type IDestination,
  type IFunction,
} from 'aws-cdk-lib/aws-lambda';
import { LogLevel, NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { FUNCTION_ACCESS } from './access.js';
import { FUNCTIONS, type FunctionName } from '../../infra/spec.js';
import { OPTIONAL_SETTINGS } from './stage-config.js';

export { FUNCTION_NAMES, type FunctionName } from '../../infra/spec.js';

/** Where the handlers and the lock file live; tests may point this elsewhere, the app never does. */
export interface SourceLayout {
  projectRoot: string;
  handlersDir: string;
}

/** What every function of the stack shares. */
export type FunctionDefaults = Pick<
  FleetFunctionProps,
  'source' | 'metricsNamespace' | 'logRetention' | 'stageSettings'
>;

export interface FleetFunctionProps {
  name: FunctionName;
  description: string;
  source: SourceLayout;
  metricsNamespace: string;
  logRetention: RetentionDays;
  /**
   * Every stage setting (thresholds, auth mode...) by env var name; the function receives the ones its entry
   * in FUNCTION_ACCESS lists. Resource ids are added by grantAccess.
   */
  stageSettings: Readonly<Record<string, string>>;
  reservedConcurrentExecutions?: number;
  /**
   * For functions invoked asynchronously (schedules): failed invocations go to this queue instead of being
   * dropped. No Lambda-side retry: the next scheduled run comes within a minute and does the same work.
   */
  asyncFailureQueue?: IQueue;
}

/**
 * Banner for ESM bundles: some bundled CommonJS dependencies call require() for Node built-ins, which an
 * ES module does not define.
 */
export const ESM_REQUIRE_SHIM = "import{createRequire}from'module';const require=createRequire(import.meta.url);";

/** See cdk/bundling/lambda-credential-provider.ts: env credentials only, as Lambda provides them. */
export const LAMBDA_CREDENTIALS = join(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  'bundling',
  'lambda-credential-provider.ts',
);

export class FleetFunction extends Construct {
  readonly fn: NodejsFunction;
  readonly logGroup: LogGroup;
  readonly role: Role;
  readonly functionName: FunctionName;

  constructor(scope: Construct, id: string, props: FleetFunctionProps) {
    super(scope, id);
    this.functionName = props.name;
    this.logGroup = new LogGroup(this, 'Logs', {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `fleetmedic ${props.name}: least-privilege execution role`,
    });
    this.logGroup.grantWrite(this.role);

    this.fn = new NodejsFunction(this, 'Function', {
      entry: join(props.source.handlersDir, `${props.name}.ts`),
      handler: 'handler',
      projectRoot: props.source.projectRoot,
      depsLockFilePath: join(props.source.projectRoot, 'package-lock.json'),
      description: props.description,
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      // Timeout and memory: infra/spec.ts, which the local fleet runs the function with too.
      memorySize: FUNCTIONS[props.name].memoryMb,
      timeout: Duration.seconds(FUNCTIONS[props.name].timeoutSeconds),
      role: this.role,
      logGroup: this.logGroup,
      ...(props.reservedConcurrentExecutions !== undefined
        ? { reservedConcurrentExecutions: props.reservedConcurrentExecutions }
        : {}),
      ...(props.asyncFailureQueue
        ? {
            onFailure: new SendOnlyQueueDestination(props.asyncFailureQueue),
            retryAttempts: 0,
            maxEventAge: Duration.minutes(5),
          }
        : {}),
      environment: {
        POWERTOOLS_SERVICE_NAME: props.name,
        POWERTOOLS_METRICS_NAMESPACE: props.metricsNamespace,
        ...settingsFor(props.name, props.stageSettings),
      },
      bundling: {
        forceDockerBundling: false,
        format: OutputFormat.ESM,
        target: 'node22',
        // Prefer the ES module builds of dependencies: that is what lets esbuild tree-shake the SDK.
        mainFields: ['module', 'main'],
        minify: true,
        sourceMap: true,
        sourcesContent: false,
        // Bundle the AWS SDK v3 too (pinned versions, tree-shaken) instead of the runtime's copy.
        externalModules: [],
        banner: ESM_REQUIRE_SHIM,
        esbuildArgs: { '--alias': `@aws-sdk/credential-provider-node=${LAMBDA_CREDENTIALS}` },
        // esbuild's metafile (what each dependency contributes) is for the bundle-size bench and the synth
        // test only; it is not shipped to Lambda unless asked for.
        metafile: wantsMetafile(this),
        logLevel: LogLevel.WARNING,
      },
    });

    // X-Ray active tracing, set on the function directly: `tracing: Tracing.ACTIVE` would put X-Ray's two actions
    // (Resource "*": they have no resource-level permissions) into the role's default policy, where an
    // acknowledgement of Resource "*" would also cover any wildcard grant added later. They get a policy of
    // their own instead, and the acknowledgement covers that policy only.
    (this.fn.node.defaultChild as CfnFunction).tracingConfig = { mode: 'Active' };
    const xray = new Policy(this, 'XRayWrite', {
      roles: [this.role],
      statements: [
        new PolicyStatement({ actions: ['xray:PutTraceSegments', 'xray:PutTelemetryRecords'], resources: ['*'] }),
      ],
    });
    // Lambda checks the role may write to X-Ray when it creates the function.
    this.fn.node.addDependency(xray);
    Validations.of(xray).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'X-Ray PutTraceSegments/PutTelemetryRecords support only Resource "*" (no resource-level permissions); this policy holds nothing else.',
    });
    // The issue fixes the runtime at nodejs22.x (the Node line the agent and the local fleet are tested on).
    Validations.of(this.fn).acknowledge({
      id: 'AwsSolutions-L1',
      reason: 'Runtime pinned to nodejs22.x by the project, matching the Node line the code is tested on.',
    });
  }
}

/**
 * An async invocation's failure destination that grants SendMessage only (SqsDestination's
 * Queue.grantSendMessages adds GetQueueAttributes and GetQueueUrl, which Lambda does not call).
 */
class SendOnlyQueueDestination implements IDestination {
  constructor(private readonly queue: IQueue) {}

  bind(_scope: Construct, fn: IFunction): DestinationConfig {
    Grant.addToPrincipal({ grantee: fn, actions: ['sqs:SendMessage'], resourceArns: [this.queue.queueArn] });
    return { destination: this.queue.queueArn };
  }
}

/** Context `fleetmedic:bundle-metafile=true` writes index.meta.json next to each bundle. */
export const METAFILE_CONTEXT = 'fleetmedic:bundle-metafile';
function wantsMetafile(scope: Construct): boolean {
  const v: unknown = scope.node.tryGetContext(METAFILE_CONTEXT);
  return v === true || v === 'true';
}

function settingsFor(name: FunctionName, all: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of FUNCTION_ACCESS[name].settings ?? []) {
    const value = all[key];
    if (value === undefined && OPTIONAL_SETTINGS.has(key)) continue;
    if (value === undefined) throw new Error(`${name} needs stage setting ${key}, which the stack does not define`);
    out[key] = value;
  }
  return out;
}

/** CloudWatch Logs accepts only these retention values; a context typo must fail synth, not deploy. */
export function retentionDays(days: number): RetentionDays {
  const allowed = Object.values(RetentionDays).filter((v): v is RetentionDays => typeof v === 'number');
  if (!allowed.includes(days as RetentionDays)) {
    throw new Error(`logRetentionDays=${days}: CloudWatch Logs accepts ${allowed.filter((d) => d > 0).join(', ')}`);
  }
  return days as RetentionDays;
}
