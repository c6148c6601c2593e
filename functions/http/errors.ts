/** The API's error type: a stable code (status derived from ERROR_STATUS), a message for people, details for programs. */
import { ERROR_STATUS, type ErrorCode } from '../contract/common.js';

export class HttpError extends Error {
  readonly statusCode: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
    /** Extra response headers (Retry-After, Allow...). */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'HttpError';
    this.statusCode = ERROR_STATUS[code];
  }
}

export const httpError = (code: ErrorCode, message: string, details?: unknown, headers?: Record<string, string>) =>
  new HttpError(code, message, details, headers);
