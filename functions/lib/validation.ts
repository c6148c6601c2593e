/**
 * Input validation for the handlers and HTTP middlewares: one source of validation, Powertools for AWS Lambda's
 * parser (`parse`, safe-parse form) over our own contract schemas (zod/mini, through Standard Schema).
 *
 * Only `parse` is imported. The parser's built-in event schemas and envelopes (`/schemas`, `/envelopes`,
 * `/helpers`) import zod's whole namespace with every locale: ~360 KB more in each bundle against ~0.6 KB for
 * `parse`. So SQS/SNS envelopes are described by small schemas of ours instead, and
 * test/unit/bundle-hygiene.test.ts fails if runtime code imports those modules.
 */
import { parse } from '@aws-lambda-powertools/parser';
import type * as z from 'zod/mini';
// English issue messages (zod/mini alone says only "Invalid input"): they go into 400 bodies and DLQ reasons.
import '../contract/zod-locale.js';

/** One problem found, as zod reports it (Standard Schema issues from a zod schema are zod's issues). */
export interface Issue {
  readonly code: string;
  readonly path: readonly PropertyKey[];
  readonly message: string;
}

export type Checked<T> = { success: true; data: T } | { success: false; issues: readonly Issue[] };

/**
 * `schema.safeParse(data)` through the Powertools parser: the parsed (and defaulted/stripped) data, or every issue.
 * On failure the parser returns a ParseError whose `cause` is the schema's issue list.
 */
export function safeParse<S extends z.ZodMiniType>(schema: S, data: unknown): Checked<z.output<S>> {
  const r = parse(data, undefined, schema, true);
  if (r.success) return { success: true, data: r.data as z.output<S> };
  const cause = (r.error as { cause?: unknown }).cause;
  return {
    success: false,
    issues: Array.isArray(cause) ? (cause as Issue[]) : [{ code: 'custom', path: [], message: r.error.message }],
  };
}
