import type { INestApplicationContext, LoggerService } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  LoadLockService,
  LoadStatusModule,
  LoadStatusService,
  type LoadStatusModuleOptions,
} from '../../src';

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

export interface LoggedApp {
  app: INestApplicationContext;
  lock: LoadLockService;
  status: LoadStatusService;
  /** Every line the app logged, at every level. */
  lines: LogLine[];
  close(): Promise<void>;
}

/** An app with the module whose log (every level) is collected; boot errors are thrown. */
export async function bootWithLogs(
  options: LoadStatusModuleOptions,
  logger = new CollectingLogger(),
): Promise<LoggedApp> {
  const moduleRef = await Test.createTestingModule({
    imports: [LoadStatusModule.forRoot(options)],
  })
    .setLogger(logger)
    .compile();
  moduleRef.useLogger(logger);
  const app = await moduleRef.init();
  let closed = false;
  return {
    app,
    lock: app.get(LoadLockService),
    status: app.get(LoadStatusService),
    lines: logger.lines,
    close: async () => {
      if (closed) return;
      closed = true;
      await app.close();
    },
  };
}
