/**
 * AWS list prices the fleet simulator models cost with: the one table of them. us-east-1, on-demand, no free
 * tier, no volume tiers beyond the first (a fleet of this project's size stays in it). Taken from the public
 * pricing pages below as they stood in early 2025 (DynamoDB on-demand after its November 2024 price cut).
 * Update `asOf` with the figures when re-checking them.
 */
export const PRICES = {
  asOf: '2025-01 (us-east-1 list prices)',
  /** HTTP API requests, first 300 million a month. https://aws.amazon.com/api-gateway/pricing/ */
  httpApiPerMillionRequests: 1.0,
  /** Lambda requests. https://aws.amazon.com/lambda/pricing/ */
  lambdaPerMillionRequests: 0.2,
  /** Lambda duration on arm64 (the functions' architecture, cdk/lib/fleet-function.ts), first 7.5 billion GB-s a month. */
  lambdaArmPerGbSecond: 0.0000133334,
  /** DynamoDB on-demand read request units. https://aws.amazon.com/dynamodb/pricing/on-demand/ */
  dynamoPerMillionReadUnits: 0.125,
  /** DynamoDB on-demand write request units (same page). */
  dynamoPerMillionWriteUnits: 0.625,
} as const;

/** Hours in the month the prices are quoted for (AWS bills 730 hours a month). */
export const HOURS_PER_MONTH = 730;

export interface HourlyUsage {
  apiRequests: number;
  lambdaInvocations: number;
  lambdaGbSeconds: number;
  readUnits: number;
  writeUnits: number;
}

export interface MonthlyCost {
  api: number;
  lambdaRequests: number;
  lambdaDuration: number;
  reads: number;
  writes: number;
  total: number;
}

/** Cost of one device for a month at the given per-device-hour usage. */
export function monthlyCost(perHour: HourlyUsage): MonthlyCost {
  const m = HOURS_PER_MONTH;
  const api = (perHour.apiRequests * m * PRICES.httpApiPerMillionRequests) / 1e6;
  const lambdaRequests = (perHour.lambdaInvocations * m * PRICES.lambdaPerMillionRequests) / 1e6;
  const lambdaDuration = perHour.lambdaGbSeconds * m * PRICES.lambdaArmPerGbSecond;
  const reads = (perHour.readUnits * m * PRICES.dynamoPerMillionReadUnits) / 1e6;
  const writes = (perHour.writeUnits * m * PRICES.dynamoPerMillionWriteUnits) / 1e6;
  return {
    api,
    lambdaRequests,
    lambdaDuration,
    reads,
    writes,
    total: api + lambdaRequests + lambdaDuration + reads + writes,
  };
}
