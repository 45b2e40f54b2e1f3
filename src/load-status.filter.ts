import {
  Catch,
  HttpStatus,
  Optional,
  type ArgumentsHost,
  type ExceptionFilter,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import {
  InvalidUserIdError,
  LoadLeaseLostError,
  LoadStatusError,
  LoadStatusShutdownError,
  LoadStatusUnavailableError,
  LoadWaitTimeoutError,
} from './errors';

/** How the filter answers one of the library's errors. */
export interface LoadStatusErrorResponse {
  /** The HTTP status. */
  readonly status: number;
  /** Seconds a client should wait before it tries again (`Retry-After`); none if absent. */
  readonly retryAfterSeconds?: number;
}

/**
 * Maps the library's errors to HTTP the way Nest apps answer: `503 Service Unavailable` with
 * `Retry-After` for what passes (the store unreachable under fail-closed, a wait that timed
 * out, a lease lost mid-load, an instance shutting down), `400 Bad Request` for an invalid key,
 * and `500` for the rest (a misconfiguration or a refusal by Redis: nothing a retry fixes). The
 * body is Nest's own shape, `{ statusCode, message, error }`. Optional: register it where you
 * want it, for HTTP only (other contexts get the error back untouched):
 *
 * ```ts
 * providers: [{ provide: APP_FILTER, useClass: LoadStatusExceptionFilter }]
 * // or: app.useGlobalFilters(new LoadStatusExceptionFilter(app.get(HttpAdapterHost)))
 * ```
 *
 * Override {@link responseFor} to choose other statuses.
 */
@Catch(LoadStatusError)
export class LoadStatusExceptionFilter implements ExceptionFilter<LoadStatusError> {
  constructor(@Optional() private readonly adapterHost?: HttpAdapterHost) {}

  catch(error: LoadStatusError, host: ArgumentsHost): void {
    const adapter = this.adapterHost?.httpAdapter;
    if (host.getType() !== 'http' || adapter === undefined) throw error;
    const { status, retryAfterSeconds } = this.responseFor(error);
    const response: unknown = host.switchToHttp().getResponse();
    if (retryAfterSeconds !== undefined) {
      adapter.setHeader(response, 'Retry-After', String(retryAfterSeconds));
    }
    adapter.reply(
      response,
      {
        statusCode: status,
        // A 5xx message stays generic: what failed inside is for the log, not the client.
        message:
          status < 500
            ? error.message
            : status === 503
              ? 'Service temporarily unavailable; try again later.'
              : 'Internal server error',
        error: error.name,
      },
      status,
    );
  }

  /** The status (and `Retry-After`) for `error`. */
  protected responseFor(error: LoadStatusError): LoadStatusErrorResponse {
    if (error instanceof InvalidUserIdError) return { status: HttpStatus.BAD_REQUEST };
    if (
      error instanceof LoadStatusUnavailableError ||
      error instanceof LoadWaitTimeoutError ||
      error instanceof LoadLeaseLostError ||
      error instanceof LoadStatusShutdownError
    ) {
      return { status: HttpStatus.SERVICE_UNAVAILABLE, retryAfterSeconds: 1 };
    }
    return { status: HttpStatus.INTERNAL_SERVER_ERROR };
  }
}
