/** Time helpers shared by the tests, the load worker and the bench (no Jest dependency). */

/** Wall-clock ms with sub-ms resolution, comparable across processes of one machine. */
export function now(): number {
  return performance.timeOrigin + performance.now();
}

/** Resolves after `ms`; rejects with the signal's reason on abort (and clears its timer). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
