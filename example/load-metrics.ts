import { Controller, Get, Header, Injectable, OnModuleDestroy } from '@nestjs/common';
import { Counter, Histogram, Registry } from 'prom-client';
import type { Subscription } from 'rxjs';
import { LoadStatusEvents } from '../src';

/**
 * Recipe: Prometheus metrics built from `LoadStatusEvents.events$` with prom-client. One registry
 * per app (not prom-client's global one), so several apps in one process never collide.
 */
@Injectable()
export class LoadMetrics implements OnModuleDestroy {
  readonly registry = new Registry();
  private readonly loads = new Counter({
    name: 'load_status_loads_total',
    help: 'Loader runs by result',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  private readonly waits = new Histogram({
    name: 'load_status_wait_seconds',
    help: 'Time callers waited for another caller, by how the wait ended',
    labelNames: ['reason'] as const,
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15],
    registers: [this.registry],
  });
  private readonly loadSeconds = new Histogram({
    name: 'load_status_load_seconds',
    help: 'Loader run time',
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  private readonly takeovers = new Counter({
    name: 'load_status_takeovers_total',
    help: 'Waiters that took the lock after the holder failed, crashed or released it',
    registers: [this.registry],
  });
  private readonly storeErrors = new Counter({
    name: 'load_status_store_errors_total',
    help: 'Store commands that failed (fail-open served them in-process)',
    registers: [this.registry],
  });
  private readonly refreshes = new Counter({
    name: 'load_status_refreshes_total',
    help: 'Refresh-ahead loads (refreshAheadMs) by result: started, succeeded, failed',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  private readonly clearAll = new Counter({
    name: 'load_status_clear_all_total',
    help: 'clearAllLoaded() calls made by this process',
    registers: [this.registry],
  });
  private readonly subscription: Subscription;

  constructor(events: LoadStatusEvents) {
    this.subscription = events.events$.subscribe((event) => {
      switch (event.type) {
        case 'load-succeeded':
          this.loads.inc({ result: 'success' });
          this.loadSeconds.observe(event.durationMs / 1000);
          break;
        case 'load-failed':
          this.loads.inc({ result: 'failure' });
          break;
        case 'wait-ended':
          this.waits.observe({ reason: event.reason }, event.waitedMs / 1000);
          break;
        case 'takeover':
          this.takeovers.inc();
          break;
        case 'store-error':
          this.storeErrors.inc();
          break;
        case 'refresh-started':
          this.refreshes.inc({ result: 'started' });
          break;
        case 'refreshed':
          this.refreshes.inc({ result: 'succeeded' });
          break;
        case 'refresh-failed':
          this.refreshes.inc({ result: 'failed' });
          break;
        case 'all-cleared':
          this.clearAll.inc();
          break;
      }
    });
  }

  onModuleDestroy(): void {
    this.subscription.unsubscribe();
  }
}

@Controller()
export class MetricsController {
  constructor(private readonly metrics: LoadMetrics) {}

  @Get('metrics')
  @Header('Content-Type', 'text/plain; version=0.0.4')
  scrape(): Promise<string> {
    return this.metrics.registry.metrics();
  }
}
