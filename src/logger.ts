/**
 * Where the library logs. Inside Nest it is Nest's `Logger` (context `LoadStatus`), so lines go
 * wherever the app sends its log; outside Nest (`createLoadStatus`) it is the app's own logger,
 * or warnings through `process.emitWarning`. Messages never carry a password (see redaction.ts).
 */
export interface LoadStatusLogger {
  debug(message: string): void;
  log(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/**
 * Nest's `Logger` with the context `LoadStatus`, loaded on first use: a store made outside Nest
 * with a logger of its own never loads `@nestjs/common`.
 */
export function nestLogger(): LoadStatusLogger {
  let logger: LoadStatusLogger | undefined;
  const get = (): LoadStatusLogger => {
    if (logger === undefined) {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { Logger } = require('@nestjs/common') as typeof import('@nestjs/common');
      logger = new Logger('LoadStatus');
    }
    return logger;
  };
  return {
    debug: (message) => get().debug(message),
    log: (message) => get().log(message),
    warn: (message) => get().warn(message),
    error: (message) => get().error(message),
  };
}

/**
 * Outside Nest, by default: warnings and errors as process warnings (`LoadStatusWarning`), which
 * Node prints to stderr and an app can observe with `process.on('warning')`; nothing else.
 */
export const processWarningLogger: LoadStatusLogger = {
  debug: () => undefined,
  log: () => undefined,
  warn: (message) => process.emitWarning(message, 'LoadStatusWarning'),
  error: (message) => process.emitWarning(message, 'LoadStatusWarning'),
};
