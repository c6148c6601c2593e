/** What route modules see and return: parsed, validated, authenticated input; a status and a JSON body. */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import type * as z from 'zod/mini';
import type { OperationId, Route, RouteDef } from '../contract/routes.js';

export type Principal =
  /** `token`: which of the device's valid tokens authenticated the call (during a rotation's overlap: either). */
  | { kind: 'device'; deviceId: string; token?: 'current' | 'previous' }
  | { kind: 'operator'; id: string }
  | { kind: 'anonymous' };

/** Per-request state the middlewares build up, kept on the Lambda context. */
export interface ApiState {
  route?: RouteDef;
  correlationId: string;
  principal: Principal;
  /** Decoded request body text (base64 undone), undefined when empty. */
  rawBody?: string;
  /** JSON-parsed body, before validation. */
  json?: unknown;
  params: Record<string, unknown>;
  query: Record<string, unknown>;
  body: unknown;
}

export type ApiContext = Context & { api: ApiState };
export type ApiEvent = APIGatewayProxyEventV2;
export type ApiResult = APIGatewayProxyStructuredResultV2;

type RouteOf<Op extends OperationId> = Extract<Route, { operationId: Op }>;
type Out<T> = T extends z.ZodMiniType ? z.output<T> : Record<string, never>;
export type ParamsOf<Op extends OperationId> =
  RouteOf<Op> extends { pathParams: infer P } ? Out<P> : Record<string, never>;
export type QueryOf<Op extends OperationId> = RouteOf<Op> extends { query: infer Q } ? Out<Q> : Record<string, never>;
export type BodyOf<Op extends OperationId> = RouteOf<Op> extends { body: infer B } ? Out<B> : undefined;

export interface RouteRequest<Op extends OperationId = OperationId> {
  operationId: Op;
  event: ApiEvent;
  params: ParamsOf<Op>;
  query: QueryOf<Op>;
  body: BodyOf<Op>;
  principal: Principal;
  correlationId: string;
  /** Request time (epoch ms): domain code takes `now` as an argument. */
  now: number;
  header(name: string): string | undefined;
}

export interface RouteResponse {
  statusCode: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface RouteModule<Op extends OperationId = OperationId> {
  operationId: Op;
  handle(req: RouteRequest<Op>): Promise<RouteResponse>;
}

/** Declare a route module with its input types inferred from the route table. */
export function defineRoute<Op extends OperationId>(
  operationId: Op,
  handle: (req: RouteRequest<Op>) => Promise<RouteResponse>,
): RouteModule<Op> {
  return { operationId, handle };
}
