import type { LoggerService } from '@nestjs/common';
import type { LoadStatusModuleOptions } from '../../src';
import { startApp, type TestApp } from './apps';

export interface LogLine {
  level: 'log' | 'error' | 'warn' | 'debug' | 'verbose' | 'fatal';
  message: string;
  /** Everything else the logger was given (context, stack), as text. */
  rest: string;
}

/** A Nest logger that keeps every line at every level, for tests that read the log. */
export class CollectingLogger implements LoggerService {
  readonly lines: LogLine[] = [];
  private add(level: LogLine['level'], message: unknown, rest: unknown[]): void {
    this.lines.push({
      level,
      message: typeof message === 'string' ? message : String(message),
      rest: rest
        .map((r) => (r instanceof Error ? `${r.message}\n${r.stack}` : String(r)))
        .join(' '),
    });
  }
  log(message: unknown, ...rest: unknown[]): void {
    this.add('log', message, rest);
  }
  error(message: unknown, ...rest: unknown[]): void {
    this.add('error', message, rest);
  }
  warn(message: unknown, ...rest: unknown[]): void {
    this.add('warn', message, rest);
  }
  debug(message: unknown, ...rest: unknown[]): void {
    this.add('debug', message, rest);
  }
  verbose(message: unknown, ...rest: unknown[]): void {
    this.add('verbose', message, rest);
  }
  fatal(message: unknown, ...rest: unknown[]): void {
    this.add('fatal', message, rest);
  }
}

export interface LoggedApp extends TestApp {
  /** Every line the app logged, at every level. */
  lines: LogLine[];
}

/** An app with the module whose log (every level) is collected; boot errors are thrown. */
export async function bootWithLogs(
  options: LoadStatusModuleOptions,
  logger = new CollectingLogger(),
): Promise<LoggedApp> {
  return { ...(await startApp(options, [], logger)), lines: logger.lines };
}
