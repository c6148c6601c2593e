/**
 * Building blocks shared by every part of the device⇄cloud contract.
 * Every schema that has a name in the OpenAPI document registers it with `.register(z.globalRegistry, { id })`.
 *
 * zod/mini, not classic zod: the agent loads these schemas on the device under an idle-memory budget and every
 * Lambda bundle carries them (measured: the contract alone costs the agent ~2 MB less RSS under its node flags,
 * and every Lambda bundle is ~60 KB smaller).
 * Metadata goes into the registry with `.register` (what classic `.meta()` does), not as a `z.meta()` check: a
 * check is copied into schemas derived with `z.extend`, which would re-register them under the base's id.
 */
import * as z from 'zod/mini';
import './zod-locale.js';

/** Device ids are chosen by operators; keep them URL- and key-safe. */
export const DeviceId = z
  .string()
  .check(z.regex(/^[a-z0-9][a-z0-9-]{1,62}$/, 'lowercase letters, digits and dashes, 2-63 characters'))
  .register(z.globalRegistry, { id: 'DeviceId', description: 'Device identifier chosen at registration.' });
export type DeviceId = z.infer<typeof DeviceId>;

/** Service names double as Docker container name parts. */
export const ServiceName = z
  .string()
  .check(z.regex(/^[a-z0-9][a-z0-9_.-]{0,62}$/, 'lowercase letters, digits, dot, dash, underscore; 1-63 characters'))
  .register(z.globalRegistry, { id: 'ServiceName' });

export const JobId = z
  .string()
  .check(z.regex(/^job_[A-Za-z0-9]{10,40}$/))
  .register(z.globalRegistry, { id: 'JobId' });

export const Timestamp = z.iso
  .datetime({ offset: true })
  .register(z.globalRegistry, { id: 'Timestamp', description: 'ISO-8601 time.' });

/** Docker image reference: [registry[:port]/]repo[:tag][@digest]. Loose on purpose: the engine is the judge. */
export const ImageRef = z
  .string()
  .check(z.minLength(1), z.maxLength(512), z.regex(/^[A-Za-z0-9][A-Za-z0-9._/:@-]*$/))
  .register(z.globalRegistry, { id: 'ImageRef' });

/**
 * DynamoDB stores a number of magnitude 1e-130 to 1e125 (or 0) and answers anything outside with a number
 * underflow/overflow error; the SDK refuses, before that, integers beyond Number.MAX_SAFE_INTEGER. Every
 * number a client sends is therefore bounded to a sensible range here (400 at the door), never left to the
 * store (a 500 after the fact).
 */
export const storableNumber = (min: number, max: number) =>
  z.number().check(
    z.minimum(min),
    z.maximum(max),
    z.refine((n) => n === 0 || Math.abs(n) >= 1e-9, {
      message: 'too close to zero to store (use 0, or a magnitude of at least 1e-9)',
      abort: true,
    }),
  );

/**
 * Keys of free-form maps a client names (device labels, job status details). They are stored as DynamoDB map
 * members, so a key must not read like the storage format itself (a type descriptor `S`, `N`, `M`...) nor like
 * a JavaScript object's own machinery (`constructor`, `__proto__`), which the SDK's marshalling trips over.
 */
const RESERVED_MAP_KEYS = new Set([
  'S',
  'N',
  'B',
  'SS',
  'NS',
  'BS',
  'M',
  'L',
  'NULL',
  'BOOL',
  'constructor',
  'prototype',
  '__proto__',
]);
export const isReservedMapKey = (key: string) => RESERVED_MAP_KEYS.has(key);
export const MapKey = z
  .string()
  .check(
    z.regex(/^[A-Za-z][A-Za-z0-9_./-]{0,63}$/, 'a letter, then letters, digits, `_`, `.`, `/` or `-`; 1-64 characters'),
    z.refine(
      (k) => !RESERVED_MAP_KEYS.has(k),
      'reserved: a DynamoDB type descriptor (S, N, B, SS, NS, BS, M, L, NULL, BOOL) or constructor/prototype',
    ),
  )
  .register(z.globalRegistry, {
    id: 'MapKey',
    description:
      'Key of a free-form map (labels, status details). Not one of S, N, B, SS, NS, BS, M, L, NULL, BOOL, constructor, prototype.',
  });

/** Counters and sizes a client reports: non-negative integers well inside what every layer stores exactly. */
export const Count = () => z.int().check(z.minimum(0), z.maximum(2_147_483_647));

export const CorrelationId = z.string().check(z.minLength(1), z.maxLength(128), z.regex(/^[A-Za-z0-9._:-]+$/));

/** Every 4xx/5xx body has this shape. `error` is a stable machine code, `message` is for people. */
export const ErrorBody = z
  .object({
    error: z.string().register(z.globalRegistry, {
      description: 'Stable machine-readable code, e.g. validation_failed, circuit_open.',
    }),
    message: z.string(),
    details: z.optional(z.unknown()),
  })
  .register(z.globalRegistry, { id: 'ErrorBody' });
export type ErrorBody = z.infer<typeof ErrorBody>;

/** Error codes the API answers with; the HTTP status travels with them. */
export const ERROR_STATUS = {
  bad_request: 400,
  invalid_json: 400,
  validation_failed: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  version_conflict: 409,
  stale_sequence: 409,
  already_exists: 409,
  invalid_transition: 409,
  precondition_failed: 412,
  payload_too_large: 413,
  unsupported_media_type: 415,
  too_many_requests: 429,
  circuit_open: 503,
  internal_error: 500,
  /** An item the request needs is stored in a shape that cannot be read; `details` names it (docs/runbook.md). */
  unreadable_item: 500,
} as const;
export type ErrorCode = keyof typeof ERROR_STATUS;
