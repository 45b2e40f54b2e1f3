import { filter, lastValueFrom, take } from 'rxjs';
import { LoadStatusEvents, type LoadStatusEvent } from '../../src';
import type { TestApp } from './apps';

/**
 * Every event `app` emits from now on, in order. The recording ends when the app closes (its
 * event stream completes then).
 */
export function recordEvents(app: TestApp): LoadStatusEvent[] {
  const events: LoadStatusEvent[] = [];
  app.app.get(LoadStatusEvents).events$.subscribe((e) => events.push(e));
  return events;
}

/** Resolves on the `count`-th event matching `match` from now on (subscribe before the cause). */
export function whenEvent(
  app: TestApp,
  match: (e: LoadStatusEvent) => boolean,
  count = 1,
): Promise<LoadStatusEvent> {
  return lastValueFrom(app.app.get(LoadStatusEvents).events$.pipe(filter(match), take(count)));
}
