/**
 * Exit codes scripts can trust, and the errors that map to them. Every failure the CLI reports is one of these.
 */
export const EXIT = {
  ok: 0,
  /** The API answered with an error (4xx other than auth, 5xx, circuit_open), or a response broke the contract. */
  apiError: 1,
  /** Bad command line or arguments (nothing was sent). */
  usage: 2,
  /** The API could not be reached (connection refused, DNS, timeout) or no API is configured. */
  unreachable: 3,
  /** Missing, wrong or expired credentials (401/403 or no AWS credentials for SigV4). */
  auth: 4,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export const EXIT_CODES_HELP = `
Exit codes:
  0  success
  1  the API answered with an error (e.g. 404 not_found, 409 conflict, 503 circuit_open) or a malformed response
  2  usage error: bad command, option or argument (nothing was sent)
  3  API unreachable (connection refused, DNS failure, timeout), or no API configured
  4  authentication/authorisation failed (401/403, missing token or AWS credentials)`;

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode,
    /** Machine-readable code for --json output (the API's error code when there is one). */
    readonly code: string,
    readonly details?: unknown,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export const usageError = (message: string, details?: unknown) => new CliError(message, EXIT.usage, 'usage', details);
export const unreachableError = (message: string, details?: unknown) =>
  new CliError(message, EXIT.unreachable, 'unreachable', details);
export const authError = (message: string, code = 'unauthorized', status?: number) =>
  new CliError(message, EXIT.auth, code, undefined, status);
export const apiError = (message: string, code: string, status?: number, details?: unknown) =>
  new CliError(message, EXIT.apiError, code, details, status);
