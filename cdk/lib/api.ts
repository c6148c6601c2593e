/**
 * The HTTP API. Its routes are generated from functions/contract/routes.ts, the same table the handlers
 * dispatch on, so the deployed API cannot drift from the code:
 * - device routes → device-api, authenticated in the handler by the device's own token (salted hash in DynamoDB);
 * - operator routes → operator-api behind IAM authorization (SigV4): callers need the OperatorInvoke policy;
 * - the public health route → operator-api (post-deploy acceptance, load balancers).
 * Stage-wide throttling and JSON access logs to a log group with retention.
 */
import { type CfnElement, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { HttpApi, HttpMethod, HttpStage, LogGroupLogDestination, type HttpRoute } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { AccessLogField, AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import { ManagedPolicy, PolicyStatement, Role } from 'aws-cdk-lib/aws-iam';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Table } from 'aws-cdk-lib/aws-dynamodb';
import type { Queue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { routes, type RouteDef } from '../../functions/contract/routes.js';
import { FUNCTION_ACCESS, grantAccess, type GrantableResources } from './access.js';
import { FleetFunction, type FunctionDefaults } from './fleet-function.js';
import type { TableKey } from './tables.js';

export interface ApiProps {
  tables: Record<TableKey, Table>;
  queues: { jobs: Queue; jobsDlq: Queue; alerts: Queue; alertsDlq: Queue };
  alertTopic: NonNullable<GrantableResources['alertTopic']>;
  functionDefaults: FunctionDefaults;
  logRetention: RetentionDays;
  throttle: { rateLimit: number; burstLimit: number };
  /** Existing IAM roles that get the operator invoke policy (e.g. the CI role running the acceptance script). */
  operatorRoleNames: string[];
  /** Name prefix of the private registry credential secrets (device-api reads them, operator-api manages them). */
  registrySecretPrefix: string;
}

export class Api extends Construct {
  readonly httpApi: HttpApi;
  readonly stage: HttpStage;
  readonly accessLogs: LogGroup;
  readonly deviceApi: FleetFunction;
  readonly operatorApi: FleetFunction;
  readonly operatorPolicy: ManagedPolicy;
  readonly routes: { def: RouteDef; route: HttpRoute }[] = [];

  constructor(scope: Construct, id: string, props: ApiProps) {
    super(scope, id);
    const resources: GrantableResources = {
      tables: props.tables,
      queues: props.queues,
      alertTopic: props.alertTopic,
      registrySecretPrefix: props.registrySecretPrefix,
    };

    this.deviceApi = new FleetFunction(this, 'DeviceApi', {
      ...props.functionDefaults,
      name: 'device-api',
      description: 'Device routes: reports, pending jobs, job updates, target state (device-token auth).',
    });
    grantAccess(this.deviceApi.fn, FUNCTION_ACCESS['device-api'], resources);

    this.operatorApi = new FleetFunction(this, 'OperatorApi', {
      ...props.functionDefaults,
      name: 'operator-api',
      description: 'Operator routes (IAM-authorised by API Gateway) and the public health route.',
    });
    grantAccess(this.operatorApi.fn, FUNCTION_ACCESS['operator-api'], resources);

    this.httpApi = new HttpApi(this, 'HttpApi', {
      description: 'Fleetmedic control plane',
      createDefaultStage: false,
    });
    this.accessLogs = new LogGroup(this, 'AccessLogs', {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.stage = new HttpStage(this, 'DefaultStage', {
      httpApi: this.httpApi,
      stageName: '$default',
      autoDeploy: true,
      throttle: props.throttle,
      detailedMetricsEnabled: true,
      accessLogSettings: {
        destination: new LogGroupLogDestination(this.accessLogs),
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: AccessLogField.contextRequestId(),
            time: AccessLogField.contextRequestTime(),
            ip: AccessLogField.contextIdentitySourceIp(),
            method: AccessLogField.contextHttpMethod(),
            routeKey: '$context.routeKey',
            status: AccessLogField.contextStatus(),
            responseLength: AccessLogField.contextResponseLength(),
            latencyMs: '$context.responseLatency',
            integrationLatencyMs: '$context.integrationLatency',
            integrationError: '$context.integrationErrorMessage',
            authError: '$context.authorizer.error',
            caller: AccessLogField.contextIdentityCaller(),
          }),
        ),
      },
    });

    const integrations = {
      'device-api': new HttpLambdaIntegration('DeviceApiIntegration', this.deviceApi.fn),
      'operator-api': new HttpLambdaIntegration('OperatorApiIntegration', this.operatorApi.fn),
    };
    const iam = new HttpIamAuthorizer();
    for (const def of routes as readonly RouteDef[]) {
      const [route] = this.httpApi.addRoutes({
        path: def.path,
        methods: [HttpMethod[def.method]],
        integration: integrations[def.fn],
        ...(def.auth === 'operator' ? { authorizer: iam } : {}),
      });
      if (!route) throw new Error(`no route created for ${def.method} ${def.path}`);
      if (def.auth === 'device') {
        Validations.of(route).acknowledge({
          id: 'AwsSolutions-APIG4',
          reason:
            'Device route: authenticated in device-api by the per-device token (salted hash), a device only reaches its own resources.',
        });
      } else if (def.auth === 'public') {
        Validations.of(route).acknowledge({
          id: 'AwsSolutions-APIG4',
          reason: 'Public liveness route (no data), used by post-deploy acceptance and uptime checks.',
        });
      }
      this.routes.push({ def, route });
    }

    // Who may call the operator routes: exactly those routes of this API and stage, path parameters as "*".
    const operatorRoutes = (routes as readonly RouteDef[])
      .filter((r) => r.auth === 'operator')
      .map((r) => ({ method: r.method, path: r.path.replace(/\{[^}]+\}/g, '*') }));
    this.operatorPolicy = new ManagedPolicy(this, 'OperatorInvoke', {
      description: 'Invoke the Fleetmedic operator API (SigV4 / IAM authorization)',
      statements: [
        new PolicyStatement({
          actions: ['execute-api:Invoke'],
          resources: operatorRoutes.map((r) => this.httpApi.arnForExecuteApi(r.method, r.path, this.stage.stageName)),
        }),
      ],
      roles: props.operatorRoleNames.map((name, i) => Role.fromRoleName(this, `OperatorRole${i}`, name)),
    });
    // One acknowledgement per route that has a path parameter, in cdk-nag's finding format, so a new
    // wildcard (say, "/v1/*") would still be reported.
    const apiId = Stack.of(this).getLogicalId(this.httpApi.node.defaultChild as CfnElement);
    for (const r of operatorRoutes.filter((r) => r.path.includes('*'))) {
      Validations.of(this.operatorPolicy).acknowledge({
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:<${apiId}>/${this.stage.stageName}/${r.method}${r.path}]`,
        reason: `Only the path parameter of ${r.method} ${r.path} is "*": the policy names each operator route of this API and stage.`,
      });
    }
  }
}
