/**
 * Posts one frame to a WebSocket connection through API Gateway's `@connections` management API (the stage's
 * callback URL, PUSH_CALLBACK_URL; the local fleet points it at its emulation). One attempt, never a loop: a
 * notification is only a hint (functions/contract/push.ts), and the device's next sync delivers the same
 * thing anyway. `gone` (HTTP 410) means the socket is closed; the caller forgets it.
 */
import {
  ApiGatewayManagementApiClient,
  GoneException,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { config } from '../lib/config.js';
import { tracer } from '../lib/observability.js';

let client: { endpoint: string; client: ApiGatewayManagementApiClient } | undefined;

function managementClient(endpoint: string): ApiGatewayManagementApiClient {
  if (client?.endpoint !== endpoint) {
    client = {
      endpoint,
      client: tracer.captureAWSv3Client(
        new ApiGatewayManagementApiClient({
          endpoint,
          // A hint is worth little after a second: short timeouts, one retry for a transient error at most.
          maxAttempts: 2,
          requestHandler: { requestTimeout: 2000, connectionTimeout: 1000 },
        }),
      ),
    };
  }
  return client.client;
}

export type PostOutcome = 'sent' | 'gone';

export async function postToConnection(connectionId: string, frame: unknown): Promise<PostOutcome> {
  try {
    await managementClient(config.pushCallbackUrl).send(
      new PostToConnectionCommand({
        ConnectionId: connectionId,
        Data: new TextEncoder().encode(JSON.stringify(frame)),
      }),
    );
    return 'sent';
  } catch (err) {
    if (
      err instanceof GoneException ||
      (err as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode === 410
    )
      return 'gone';
    throw err;
  }
}

/** Whether this function was given a push channel to post to (a stack without one still runs, by polling). */
export function pushConfigured(): boolean {
  return config.pushEnabled;
}
