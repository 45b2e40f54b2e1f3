/**
 * Records the unhandled rejections of the process (Node's default ends it on one) until
 * `stop()`: a spec asserts that what it staged left none.
 */
export function recordUnhandledRejections(): { readonly reasons: unknown[]; stop(): void } {
  const reasons: unknown[] = [];
  const onUnhandled = (reason: unknown) => void reasons.push(reason);
  process.on('unhandledRejection', onUnhandled);
  return { reasons, stop: () => void process.off('unhandledRejection', onUnhandled) };
}
