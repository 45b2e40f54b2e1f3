import { LoadStatusUnavailableError } from '../errors';
import { isError } from '../is-error';

interface Pending {
  readonly deadline: number;
  readonly operation: string;
  readonly reject: (error: Error) => void;
}

/**
 * Bounds every in-flight store command by `timeoutMs` with one shared interval timer (running
 * only while commands are in flight) instead of a timer, a race and a `finally` per command:
 * cheaper on the hot path. A command rejects at most `timeoutMs + timeoutMs / 4` after it was sent
 * (and after any reply already received); a reply that comes later is dropped.
 */
export class CommandDeadlines {
  private readonly pending = new Set<Pending>();
  private timer: NodeJS.Timeout | undefined;
  private readonly tickMs: number;

  constructor(
    private readonly timeoutMs: number,
    private readonly timeoutError: (operation: string) => Error,
    private readonly now: () => number = () => performance.now(),
    /** How a sweep's rejections wait for the poll phase (tests on a fake clock run them at once). */
    private readonly afterPoll: (run: () => void) => void = (run) => setImmediate(run),
  ) {
    this.tickMs = Math.max(5, Math.min(250, Math.floor(timeoutMs / 4)));
  }

  /** Deadlines whose timeout is a `LoadStatusUnavailableError` naming the operation. */
  static forStore(timeoutMs: number): CommandDeadlines {
    return new CommandDeadlines(
      timeoutMs,
      (operation) =>
        new LoadStatusUnavailableError(operation, new Error(`no reply within ${timeoutMs} ms`)),
    );
  }

  bound<T>(operation: string, command: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const entry: Pending = { deadline: this.now() + this.timeoutMs, operation, reject };
      this.pending.add(entry);
      this.timer ??= setInterval(() => this.sweep(), this.tickMs);
      command.then(
        (value) => {
          if (this.pending.delete(entry)) resolve(value);
        },
        (error: unknown) => {
          if (this.pending.delete(entry)) reject(isError(error) ? error : new Error(String(error)));
        },
      );
    });
  }

  /** Stops the timer; commands still in flight reject now. */
  close(): void {
    for (const entry of this.pending) entry.reject(this.timeoutError(entry.operation));
    this.pending.clear();
    this.stop();
  }

  /**
   * Rejects the commands past their deadline, one event-loop turn later: a sweep that runs late
   * because the process was frozen (a long GC pause, SIGSTOP, a debugger) runs before the poll
   * phase reads replies that arrived meanwhile, and such a reply is not a Redis outage.
   */
  private sweep(): void {
    const now = this.now();
    const due: Pending[] = [];
    for (const entry of this.pending) if (entry.deadline <= now) due.push(entry);
    if (due.length > 0)
      this.afterPoll(() => {
        for (const entry of due)
          if (this.pending.delete(entry)) entry.reject(this.timeoutError(entry.operation));
        if (this.pending.size === 0) this.stop();
      });
    else if (this.pending.size === 0) this.stop();
  }

  private stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
