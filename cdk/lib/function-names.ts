/**
 * The Lambda functions of docs/architecture.md, by the name of their handler file (functions/handlers/<name>.ts).
 * The one list both the stack (cdk/lib/fleet-function.ts) and the local fleet (local/handlers.ts) are built from;
 * kept free of aws-cdk-lib so the local fleet can import it without loading the CDK.
 */
export const FUNCTION_NAMES = [
  'device-api',
  'operator-api',
  'job-dispatcher',
  'outbox-publisher',
  'job-timeout-sweeper',
  'health-evaluator',
  'slack-forwarder',
] as const;
export type FunctionName = (typeof FUNCTION_NAMES)[number];
