/**
 * The push channel (docs/architecture.md "Push channel"): an API Gateway WebSocket API devices keep a connection
 * to, so the cloud can tell a device to sync now instead of waiting for its next poll.
 *  - routes `$connect`, `$disconnect`, `$default` → the `device-socket` function (route selection on `action`;
 *    `$default` returns its answer to the caller: a pong, or an error frame for a malformed message);
 *    `$connect` authenticates the device token in the function, as the HTTP device routes do;
 *  - one stage with route throttling (every route, from the stage configuration) and JSON access logs;
 *  - `grantNotify(fn)`: `execute-api:ManageConnections` on POST `@connections/*` of this API's stage only, plus the
 *    stage's callback URL in PUSH_CALLBACK_URL. Only the functions that post notifications get it.
 */
import { type CfnElement, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { AccessLogField, AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import { LogGroupLogDestination, WebSocketApi, WebSocketStage } from 'aws-cdk-lib/aws-apigatewayv2';
import { WebSocketLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type { Table } from 'aws-cdk-lib/aws-dynamodb';
import { Grant, type IGrantable } from 'aws-cdk-lib/aws-iam';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { FUNCTION_ACCESS, grantAccess, PUSH_CALLBACK_ENV } from './access.js';
import { FleetFunction, type FunctionDefaults } from './fleet-function.js';
import { PUSH_CHANNEL } from '../../infra/spec.js';
import type { TableKey } from './tables.js';

export interface DevicePushProps {
  tables: Record<TableKey, Table>;
  functionDefaults: FunctionDefaults;
  logRetention: RetentionDays;
  /** Route throttling of the stage (steady messages per second and burst, per route). */
  throttle: { rateLimit: number; burstLimit: number };
}

export const PUSH_STAGE_NAME = PUSH_CHANNEL.stageName;

export class DevicePush extends Construct {
  readonly api: WebSocketApi;
  readonly stage: WebSocketStage;
  readonly handler: FleetFunction;
  readonly accessLogs: LogGroup;

  constructor(scope: Construct, id: string, props: DevicePushProps) {
    super(scope, id);
    this.handler = new FleetFunction(this, 'DeviceSocket', {
      ...props.functionDefaults,
      name: 'device-socket',
      description: 'Push channel WebSocket routes: $connect (device-token auth), $disconnect, $default.',
    });
    grantAccess(this.handler.fn, FUNCTION_ACCESS['device-socket'], { tables: props.tables, queues: {} });

    const integration = (name: string) => new WebSocketLambdaIntegration(name, this.handler.fn);
    this.api = new WebSocketApi(this, 'WebSocketApi', {
      description: 'Fleetmedic push channel: devices hold a connection, the cloud tells them to sync now',
      routeSelectionExpression: PUSH_CHANNEL.routeSelectionExpression,
      connectRouteOptions: { integration: integration('ConnectIntegration') },
      disconnectRouteOptions: { integration: integration('DisconnectIntegration') },
      defaultRouteOptions: {
        integration: integration('DefaultIntegration'),
        returnResponse: (PUSH_CHANNEL.returnResponse as readonly string[]).includes('$default'),
      },
    });
    this.accessLogs = new LogGroup(this, 'AccessLogs', {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.stage = new WebSocketStage(this, 'Stage', {
      webSocketApi: this.api,
      stageName: PUSH_STAGE_NAME,
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
            routeKey: '$context.routeKey',
            eventType: '$context.eventType',
            connectionId: '$context.connectionId',
            status: AccessLogField.contextStatus(),
            integrationError: '$context.integrationErrorMessage',
            disconnectStatusCode: '$context.disconnectStatusCode',
          }),
        ),
      },
    });
    for (const route of ['$connect', '$disconnect', '$default']) {
      const r = this.api.node.tryFindChild(`${route}-Route`);
      if (r) {
        Validations.of(r).acknowledge({
          id: 'AwsSolutions-APIG4',
          reason:
            'Push channel: $connect authenticates the per-device token in device-socket (salted hash), exactly as the HTTP device routes; the other routes exist only on an accepted connection.',
        });
      }
    }
  }

  /** `fn` may post to this stage's connections (and nothing else on the API), and learns where. */
  grantNotify(fn: LambdaFunction & IGrantable): void {
    const arn = Stack.of(this).formatArn({
      service: 'execute-api',
      resource: this.api.apiId,
      resourceName: `${this.stage.stageName}/POST/@connections/*`,
    });
    Grant.addToPrincipal({ grantee: fn, actions: ['execute-api:ManageConnections'], resourceArns: [arn] });
    fn.addEnvironment(PUSH_CALLBACK_ENV, this.stage.callbackUrl);
    const apiId = Stack.of(this).getLogicalId(this.api.node.defaultChild as CfnElement);
    Validations.of(fn.role!).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:<${apiId}>/${this.stage.stageName}/POST/@connections/*]`,
      reason: "Connection ids are created at run time: the grant is POST on this stage's @connections only.",
    });
  }
}
