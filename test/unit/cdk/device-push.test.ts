/**
 * The push channel in the synthesized template: a WebSocket API selecting routes on `action`, its three routes
 * on the device-socket function ($default returning its answer), a stage with route throttling and access logs,
 * and execute-api:ManageConnections granted exactly to the functions that post notifications, on POST
 * @connections of that API's stage only.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FUNCTION_ACCESS } from '../../../cdk/lib/access.js';
import { PUSH_STAGE_NAME } from '../../../cdk/lib/device-push.js';
import { FUNCTION_NAMES } from '../../../cdk/lib/fleet-function.js';
import { stageConfigFrom } from '../../../cdk/lib/stage-config.js';
import { defaultStack } from './support/stack.js';

type Resource = { Type: string; Properties: Record<string, any> };
const { template, stack } = defaultStack();
const resources = (template.toJSON() as { Resources: Record<string, Resource> }).Resources;
const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);
const functionId = (name: string) =>
  ofType('AWS::Lambda::Function').find(
    ([, r]) => r.Properties.Environment.Variables.POWERTOOLS_SERVICE_NAME === name,
  )![0];

const [[apiId, api]] = ofType('AWS::ApiGatewayV2::Api').filter(
  ([, r]) => r.Properties.ProtocolType === 'WEBSOCKET',
) as [[string, Resource]];

test("one WebSocket API, routes selected on the message's action", () => {
  assert.equal(ofType('AWS::ApiGatewayV2::Api').filter(([, r]) => r.Properties.ProtocolType === 'WEBSOCKET').length, 1);
  assert.equal(api.Properties.RouteSelectionExpression, '$request.body.action');
});

test('$connect, $disconnect and $default, each integrated with device-socket; only $default returns its answer', () => {
  const routes = ofType('AWS::ApiGatewayV2::Route')
    .filter(([, r]) => r.Properties.ApiId?.Ref === apiId)
    .map(([, r]) => r.Properties);
  assert.deepEqual(routes.map((r) => r.RouteKey).sort(), ['$connect', '$default', '$disconnect']);
  const socketFn = functionId('device-socket');
  for (const r of routes) {
    const integrationId = String(r.Target['Fn::Join'][1][1].Ref);
    const integration = resources[integrationId]!.Properties;
    assert.equal(integration.IntegrationType, 'AWS_PROXY');
    assert.ok(JSON.stringify(integration.IntegrationUri).includes(socketFn), `${r.RouteKey} integrates device-socket`);
    assert.equal(
      r.RouteResponseSelectionExpression,
      r.RouteKey === '$default' ? '$default' : undefined,
      `${r.RouteKey}: route response`,
    );
  }
  const responses = ofType('AWS::ApiGatewayV2::RouteResponse').filter(([, r]) => r.Properties.ApiId?.Ref === apiId);
  assert.equal(responses.length, 1);
});

test("the stage throttles every route with the stage configuration's limits and writes access logs", () => {
  const stages = ofType('AWS::ApiGatewayV2::Stage')
    .filter(([, r]) => r.Properties.ApiId?.Ref === apiId)
    .map(([, r]) => r.Properties);
  assert.equal(stages.length, 1);
  const stage = stages[0]!;
  assert.equal(stage.StageName, PUSH_STAGE_NAME);
  const expected = stageConfigFrom(stack.node);
  assert.equal(stage.DefaultRouteSettings.ThrottlingRateLimit, expected.apiRateLimit);
  assert.equal(stage.DefaultRouteSettings.ThrottlingBurstLimit, expected.apiBurstLimit);
  assert.ok(stage.AccessLogSettings?.DestinationArn, 'access logs');
});

test('ManageConnections: only the functions that post notifications, on POST @connections of this stage only', () => {
  const posting = FUNCTION_NAMES.filter((n) => FUNCTION_ACCESS[n].notifyDevices);
  assert.deepEqual([...posting].sort(), ['job-dispatcher', 'operator-api', 'rollout-controller']);
  const roleOf = (name: string) => resources[functionId(name)]!.Properties.Role['Fn::GetAtt'][0];
  const grants = new Map<string, unknown[]>();
  for (const [, policy] of ofType('AWS::IAM::Policy')) {
    for (const st of policy.Properties.PolicyDocument.Statement) {
      const actions = [st.Action].flat() as string[];
      if (!actions.some((a) => a.startsWith('execute-api:'))) continue;
      // Operator invoke policies are ManagedPolicies; here only function roles' inline policies.
      assert.deepEqual(actions, ['execute-api:ManageConnections'], 'nothing but ManageConnections next to it');
      for (const role of policy.Properties.Roles) grants.set(role.Ref, [st.Resource].flat());
    }
  }
  assert.deepEqual([...grants.keys()].sort(), posting.map(roleOf).sort(), "exactly the posting functions' roles");
  for (const resourcesOfGrant of grants.values()) {
    assert.equal(resourcesOfGrant.length, 1);
    const text = JSON.stringify(resourcesOfGrant[0]);
    assert.ok(text.includes(`{"Ref":"${apiId}"}`), 'this API');
    assert.ok(text.includes(`/${PUSH_STAGE_NAME}/POST/@connections/*`), `this stage, POST @connections only: ${text}`);
  }
  for (const name of posting) {
    const env = resources[functionId(name)]!.Properties.Environment.Variables;
    assert.ok(JSON.stringify(env.PUSH_CALLBACK_URL).includes(apiId), `${name} gets the callback URL of this API`);
  }
  for (const name of FUNCTION_NAMES.filter((n) => !posting.includes(n))) {
    assert.equal(
      resources[functionId(name)]!.Properties.Environment.Variables.PUSH_CALLBACK_URL,
      undefined,
      `${name} does not post`,
    );
  }
});
