/**
 * pgembed's own error type. PostgreSQL errors pass through untouched (they carry their SQLSTATE in
 * `code`); errors raised by pgembed carry one of the documented string codes below (docs/errors.md),
 * a message that says what to do, and the underlying `cause`. Never put payloads or keys into one.
 */
export type PgembedErrorCode =
  | 'INVALID_ARGUMENT'
  | 'CONFIG_INVALID'
  | 'PIPELINE_NOT_FOUND'
  | 'SCHEMA_NOT_INSTALLED'
  | 'SCHEMA_OUTDATED'
  | 'SCHEMA_TOO_NEW'
  | 'PROVIDER_UNKNOWN'
  | 'PROVIDER_AUTH'
  | 'PROVIDER_CONFIG'
  | 'PROVIDER_RATE_LIMITED'
  | 'PROVIDER_UNAVAILABLE'
  | 'PROVIDER_TIMEOUT'
  | 'PROVIDER_BAD_RESPONSE'
  | 'PROVIDER_INPUT_REJECTED'
  | 'INPUT_TOO_LONG'
  | 'DIMENSION_MISMATCH'
  | 'DATABASE_UNAVAILABLE'
  | 'DRAIN_TIMEOUT'
  | 'CHUNKING_TIMEOUT';

/** Whether retrying the same work later can succeed. */
export type ErrorKind = 'retriable' | 'permanent' | 'configuration';

export class PgembedError extends Error {
  override readonly name = 'PgembedError';
  readonly code: PgembedErrorCode;
  readonly kind: ErrorKind;
  /** Seconds the caller should wait before retrying, when the remote side said so (Retry-After). */
  readonly retryAfterSeconds: number | undefined;

  constructor(
    code: PgembedErrorCode,
    message: string,
    options: { kind?: ErrorKind; cause?: unknown; retryAfterSeconds?: number } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.kind = options.kind ?? 'permanent';
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

export function isPgembedError(error: unknown): error is PgembedError {
  return error instanceof PgembedError;
}
