import {
  Catch,
  HttpStatus,
  Logger,
  type ArgumentsHost,
  type ExceptionFilter,
} from '@nestjs/common';
import { throwError } from 'rxjs';
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
 * body has Nest's shape, `{ statusCode, message, error }` (`error`: the status text); a 5xx
 * keeps its message generic and is logged with its error (context `LoadStatus`), as Nest logs
 * its own 500s. Register it for HTTP:
 *
 * ```ts
 * providers: [{ provide: APP_FILTER, useClass: LoadStatusExceptionFilter }]
 * // or: app.useGlobalFilters(new LoadStatusExceptionFilter(app.get(HttpAdapterHost)))
 * ```
 *
 * In a microservice (`rpc`) context it hands the error on as an observable error, as Nest's RPC
 * filters do; in other contexts (GraphQL, WebSockets) it returns the error untouched, for their
 * own handling. Override {@link responseFor} to choose other statuses.
 */
@Catch(LoadStatusError)
export class LoadStatusExceptionFilter implements ExceptionFilter<LoadStatusError> {
  private readonly logger = new Logger('LoadStatus');

  constructor(private readonly adapterHost: HttpAdapterHost) {}

  catch(error: LoadStatusError, host: ArgumentsHost): unknown {
    const type = host.getType<string>();
    if (type === 'rpc') return throwError(() => error);
    if (type !== 'http') return error;
    const adapter = this.adapterHost.httpAdapter;
    const { status, retryAfterSeconds } = this.responseFor(error);
    const response: unknown = host.switchToHttp().getResponse();
    if (retryAfterSeconds !== undefined) {
      adapter.setHeader(response, 'Retry-After', String(retryAfterSeconds));
    }
    if (status >= 500) this.logger.error(error.message, error.stack);
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
        error: STATUS_TEXT[status] ?? 'Error',
      },
      status,
    );
    return undefined;
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

/** Nest's `error` text for the statuses {@link LoadStatusExceptionFilter.responseFor} may give. */
const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  409: 'Conflict',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};
