import type { FlightCall, Grant } from './flight';
import { NoticeKind } from './keys';
import type { LoadStore } from './stores/load-store';
import type { WakeReason } from './waiter';

/**
 * A waiter that won the lock right after riding out an outage: the holder it waited for may have
 * finished its load during the outage and lost its lease only because nobody could renew it; it
 * commits as soon as its client is back, at about the time ours is (clients back off their
 * reconnects by up to 500 ms, those the module makes). Hold the lock for up to two thirds of the
 * lease (still ours without renewal) for that commit: its 'loaded' notice, or the flag, read
 * again when our subscriber is back (the notice may have been sent while it was not) and at the
 * end. 'committed': it came, our lock is given back and nothing loads again. Else the lease to
 * load on, from when its renewal was sent ('lease-unsure': the renewal did not say the lock is
 * still ours, so the caller asks again; 'not-held': no wait budget was left to hold it, so the
 * grant's own lease stands). After a failover that costs no extra load; after a holder that
 * really died, at most two thirds of a lease.
 */
export async function confirmAfterOutage(
  store: LoadStore,
  { keys, settings }: FlightCall<unknown>,
  { token }: Grant,
  {
    waiter,
    deadline,
  }: {
    readonly waiter: { wait(ms: number): Promise<WakeReason> };
    /** `performance.now()` when the caller's wait budget ends. */
    readonly deadline: number;
  },
): Promise<'committed' | 'lease-unsure' | 'not-held' | number> {
  const end = Math.min(deadline, performance.now() + (settings.lockTtlMs * 2) / 3);
  if (end <= performance.now()) return 'not-held'; // no budget left: load on the grant's lease
  // Already there? Else mark the user waited on, so that commit publishes its notice.
  const flagNow = (watchMs?: number) => store.flagTtl(keys, watchMs).catch(() => undefined);
  let committed =
    (await flagNow(Math.max(1, Math.ceil(end - performance.now()) + 1))) !== undefined;
  for (let left = end - performance.now(); left > 0 && !committed; left = end - performance.now()) {
    const woken = await waiter.wait(left);
    // 'resync': our subscriber is back, and the commit's notice may have come while it was not.
    committed =
      woken === NoticeKind.Loaded || (woken === 'resync' && (await flagNow()) !== undefined);
  }
  if (!committed) committed = (await flagNow()) !== undefined;
  if (committed) {
    await store.release(keys, token).catch(() => false); // else its lease runs out
    return 'committed';
  }
  // Not committed: we load, on the lease the hold used up, renewed first. Only a renewal that
  // says the lock is still ours gives a lease (from when it was sent) to load on.
  const renewedFrom = performance.now();
  const ours = await store.extend(keys, token, settings.lockTtlMs).catch(() => false);
  return ours ? renewedFrom : 'lease-unsure';
}
