/** Turns the results into the markdown tables (stdout, bench/RESULTS.md) and the target checks. */
import { DEFAULT_LOCK_TTL_MS } from '../src';
import { CONFIG } from './config';
import type { StrategyId } from './protocol';
import type {
  BenchResults,
  ClusterResult,
  StampedeRow,
  SteadyResult,
  TargetCheck,
} from './results';
import type { Measured } from './stats';
import { STRATEGY_LABELS } from './strategies';

const REDIS_LOCKS: StrategyId[] = ['reference', 'redlock', 'redis-semaphore'];

export function num(n: number): string {
  if (Number.isNaN(n)) return 'n/a';
  if (!Number.isFinite(n)) return '∞';
  const abs = Math.abs(n);
  if (abs >= 1000) return Math.round(n).toLocaleString('en-US');
  if (abs >= 100) return n.toFixed(0);
  if (abs >= 10) return n.toFixed(1);
  return n.toFixed(2);
}

function ratio(value: number, reference: number): string {
  if (!Number.isFinite(value) || !Number.isFinite(reference) || reference === 0) return 'n/a';
  const r = value / reference;
  return r >= 100 ? `${Math.round(r)}x` : r >= 10 ? `${r.toFixed(1)}x` : `${r.toFixed(2)}x`;
}

const m = (x: Measured): number => x.median;

function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

function fastestRedisLock<T extends { strategy: StrategyId }>(
  rows: T[],
  pick: (x: T) => number,
): T {
  return rows
    .filter((x) => REDIS_LOCKS.includes(x.strategy))
    .reduce((a, b) => (pick(a) >= pick(b) ? a : b));
}

export function evaluateTargets(r: BenchResults): TargetCheck[] {
  const out: TargetCheck[] = [];
  if (r.hotPath) {
    const placements = [...new Set(r.hotPath.rows.map((x) => x.placement))].filter(
      (p) => p !== 'no round trip',
    );
    for (const placement of placements) {
      const get = r.hotPath.rows.find((x) => x.id.startsWith('get') && x.placement === placement)!;
      const ensure = m(r.hotPath.rows.find((x) => x.id === 'lib-ensure-nc-on')!.checksPerSec);
      const isLoaded = m(r.hotPath.rows.find((x) => x.id === 'lib-isloaded-nc-on')!.checksPerSec);
      const g = m(get.checksPerSec);
      out.push({
        target: `hot path with near-cache ≥ 50x the checks/s of one GET per check (GET ${placement})`,
        measured: `ensureLoaded ${num(ensure)}/s = ${ratio(ensure, g)}, isLoaded ${num(isLoaded)}/s = ${ratio(isLoaded, g)} (one GET: ${num(g)}/s)`,
        met: ensure / g >= 50 && isLoaded / g >= 50,
      });
    }
    const p99 = m(r.hotPath.decorator.p99OverheadUs);
    out.push({
      target: 'p99 overhead of a decorated call on a loaded user ≤ 20 µs',
      measured: `${num(p99)} µs (p50 ${num(m(r.hotPath.decorator.p50OverheadUs))} µs, mean ${num(m(r.hotPath.decorator.meanOverheadUs))} µs)`,
      met: p99 <= 20,
    });
  }
  if (r.stampede) {
    const find = (s: StrategyId, loadMs: number): StampedeRow | undefined =>
      r.stampede!.find((x) => x.strategy === s && x.loadMs === loadMs);
    const loads = CONFIG.stampede.loadMs;
    const lib = loads.map((l) => find('library', l)!);
    const ref = loads.map((l) => find('reference', l)!);
    out.push({
      target: 'stampede: exactly one loader run (every repeat, both load times)',
      measured: lib.map((x) => `${x.loadMs} ms: ${x.loaderRuns.runs.join(', ')}`).join('; '),
      met: lib.every((x) => x.loaderRuns.runs.every((n) => n === 1)),
    });
    out.push({
      target: 'stampede: waiter extra p99 ≤ 10 ms',
      measured: lib.map((x) => `${x.loadMs} ms: ${num(m(x.waiterExtraP99Ms))} ms`).join('; '),
      met: lib.every((x) => m(x.waiterExtraP99Ms) <= 10),
    });
    out.push({
      target: "stampede: waiter extra p99 ≤ 1/5 of the reference pattern's",
      measured: lib
        .map(
          (x, i) =>
            `${x.loadMs} ms: ${num(m(x.waiterExtraP99Ms))} vs ${num(m(ref[i].waiterExtraP99Ms))} ms = ${ratio(m(x.waiterExtraP99Ms), m(ref[i].waiterExtraP99Ms))}`,
        )
        .join('; '),
      met: lib.every((x, i) => m(x.waiterExtraP99Ms) <= m(ref[i].waiterExtraP99Ms) / 5),
    });
    out.push({
      target: "stampede: Redis commands ≤ 1/20 of the reference pattern's",
      measured: lib
        .map(
          (x, i) =>
            `${x.loadMs} ms: ${num(m(x.redisCommands))} vs ${num(m(ref[i].redisCommands))} = ${ratio(m(x.redisCommands), m(ref[i].redisCommands))}`,
        )
        .join('; '),
      met: lib.every((x, i) => m(x.redisCommands) <= m(ref[i].redisCommands) / 20),
    });
    const [short, long] = [m(lib[0].redisCommands), m(lib[lib.length - 1].redisCommands)];
    out.push({
      target: 'stampede: Redis commands flat in load time (here: within 10% or 5 commands)',
      measured: `${num(short)} at ${loads[0]} ms, ${num(long)} at ${loads[loads.length - 1]} ms`,
      met: Math.abs(long - short) <= Math.max(5, 0.1 * short),
    });
  }
  if (r.crash) {
    const lib = r.crash.find((x) => x.strategy === 'library')!;
    const bound = DEFAULT_LOCK_TTL_MS + CONFIG.crash.loadMs + 250;
    out.push({
      target: `crash: load completed ≤ lease + load + 250 ms after the kill (${DEFAULT_LOCK_TTL_MS} + ${CONFIG.crash.loadMs} + 250 = ${bound} ms), no caller error`,
      measured: `${lib.takeoverMs.runs.map((t) => num(t)).join(', ')} ms; caller errors ${lib.survivorErrors.runs.join(', ')}`,
      met:
        lib.takeoverMs.runs.every((t) => t <= bound) &&
        lib.survivorErrors.runs.every((n) => n === 0) &&
        lib.stillWaitingAtCap.runs.every((n) => n === 0),
    });
  }
  if (r.lockCycle) {
    type Row = (typeof r.lockCycle)[number];
    for (const placement of [...new Set(r.lockCycle.map((x) => x.placement))]) {
      const rows = r.lockCycle.filter((x) => x.placement === placement);
      const lib = rows.find((x) => x.strategy === 'library' && !x.variant)!;
      for (const [label, pick] of [
        ['sequential', (x: Row) => m(x.sequentialOpsPerSec)],
        [`${CONFIG.lockCycle.concurrency} concurrent`, (x: Row) => m(x.concurrentOpsPerSec)],
      ] as const) {
        const fastest = fastestRedisLock(rows, pick);
        out.push({
          target: `lock cycle (${label}, ${placement}) within 1.1x of the fastest Redis lock`,
          measured: `${num(pick(lib))} ops/s vs ${STRATEGY_LABELS[fastest.strategy]} ${num(pick(fastest))} ops/s: the fastest does ${ratio(pick(fastest), pick(lib))} ours`,
          met: pick(lib) * 1.1 >= pick(fastest),
        });
      }
    }
  }
  return out;
}

/** The Redis Cluster targets (part 6). */
export function evaluateClusterTargets(c: ClusterResult): TargetCheck[] {
  const out: TargetCheck[] = [];
  const row = (id: string) => c.latency.find((x) => x.config === id)!;
  const [standalone, sharded, classic] = ['standalone', 'cluster-sharded', 'cluster-classic'].map(
    row,
  );
  for (const [label, pick] of [
    ['near-cache invalidation', (x: typeof standalone) => m(x.invalidationP95Us)],
    ['wake-up', (x: typeof standalone) => m(x.wakeP95Us)],
  ] as const) {
    out.push({
      target: `Cluster, sharded notices: ${label} p95 within 2x of standalone's`,
      measured: `${num(pick(sharded))} vs ${num(pick(standalone))} µs = ${ratio(pick(sharded), pick(standalone))} (classic pub/sub: ${num(pick(classic))} µs = ${ratio(pick(classic), pick(standalone))})`,
      met: pick(sharded) <= 2 * pick(standalone),
    });
  }
  const byPath = (path: string) =>
    c.traffic.filter((x) => x.path === path).sort((a, b) => a.masters - b.masters);
  const describe = (rows: ClusterResult['traffic']) =>
    rows.map((x) => `${x.masters} masters ${num(m(x.totalPerNotice))}`).join(', ');
  const shardRows = byPath('sharded');
  out.push({
    target: 'Cluster-bus traffic per notice, sharded: does not grow with the number of shards',
    measured: `sharded: ${describe(shardRows)}; classic: ${describe(byPath('classic'))} bus messages per notice`,
    met:
      shardRows.length >= 2 &&
      m(shardRows[shardRows.length - 1].totalPerNotice) <= m(shardRows[0].totalPerNotice) + 0.01,
  });
  const late = c.latency.reduce((n, x) => n + x.late, 0);
  out.push({
    target: `no notice lost: no latency sample over ${CONFIG.cluster.lateMs} ms, any configuration`,
    measured: c.latency.map((x) => `${x.label}: ${x.late}`).join('; '),
    met: late === 0,
  });
  out.push({
    target: 'Cluster stampede: exactly one loader run and no error, every repeat and configuration',
    measured: c.stampede
      .map(
        (x) => `${x.label}: ${x.loaderRuns.runs.join(', ')} (errors ${x.errors.runs.join(', ')})`,
      )
      .join('; '),
    met: c.stampede.every(
      (x) => x.loaderRuns.runs.every((n) => n === 1) && x.errors.runs.every((n) => n === 0),
    ),
  });
  return out;
}

function renderCluster(c: ClusterResult): string {
  const parts: string[] = [];
  const standalone = c.latency.find((x) => x.config === 'standalone')!;
  const samples = (x: ClusterResult['latency'][number]) => 2 * x.samples * CONFIG.repeats;
  parts.push(
    `### 6. Redis Cluster (${c.topology}) next to the standalone server\n\n` +
      `Placement: ${c.placement}. Took ${num(c.durationSec)} s (Cluster start-ups included).\n\n` +
      `#### 6a. Notice latency: app A → app B (µs; ${c.latency[0]?.samples ?? 0} samples per repeat and measure, round-robin over the rows)\n\n` +
      table(
        [
          'Redis',
          'client',
          'notice path (health)',
          'invalidation p50',
          'invalidation p95',
          'p95 x standalone',
          'wake-up p50',
          'wake-up p95',
          'p95 x standalone',
          `samples over ${CONFIG.cluster.slowMs} ms / ${CONFIG.cluster.lateMs} ms`,
        ],
        c.latency.map((x) => [
          x.label,
          x.client,
          x.noticePathReason ? `${x.noticePath} (${x.noticePathReason})` : x.noticePath,
          num(m(x.invalidationP50Us)),
          num(m(x.invalidationP95Us)),
          ratio(m(x.invalidationP95Us), m(standalone.invalidationP95Us)),
          num(m(x.wakeP50Us)),
          num(m(x.wakeP95Us)),
          ratio(m(x.wakeP95Us), m(standalone.wakeP95Us)),
          `${x.slow} / ${x.late} of ${samples(x)}`,
        ]),
      ) +
      '\n\nInvalidation: A `clearLoaded` (its round trip included) until B, polling `isLoaded` with setImmediate, gets false from Redis after its near-cache dropped the entry. ' +
      `Wake-up: B in \`waitForLoad\` (for ${CONFIG.cluster.wakeLeadMs} ms already, re-checking every 1 s), from A's \`setLoaded\` call to B's wake.`,
  );

  const lockRow = (id: string) => c.lockCycle.find((x) => x.id === id)!;
  const [ls, lc, lw] = ['standalone', 'cluster', 'cluster-wait-for-replicas'].map(lockRow);
  const seq = (x: typeof ls): number => m(x.sequentialOpsPerSec);
  const conc = (x: typeof ls): number => m(x.concurrentOpsPerSec);
  const cc = CONFIG.lockCycle.concurrency;
  parts.push(
    `#### 6b. Lock cycle: \`acquireLoadLock\` + \`releaseLoadLock\` in one process (${cc} concurrent = ${cc} loops on ${cc} distinct users)\n\n` +
      table(
        [
          'Redis',
          'sequential ops/s',
          'µs per cycle',
          'x standalone',
          'x Cluster',
          `${cc} concurrent ops/s`,
          'x standalone',
          'x Cluster',
          'locks not granted',
        ],
        c.lockCycle.map((x) => [
          x.label,
          num(seq(x)),
          num(1e6 / seq(x)),
          ratio(seq(x), seq(ls)),
          x.id === 'standalone' ? '—' : ratio(seq(x), seq(lc)),
          num(conc(x)),
          ratio(conc(x), conc(ls)),
          x.id === 'standalone' ? '—' : ratio(conc(x), conc(lc)),
          String(x.notGranted),
        ]),
      ) +
      `

waitForReplicas on the Cluster: ${ratio(seq(lw), seq(lc))} the sequential ops/s, ${ratio(conc(lw), conc(lc))} at ${cc} concurrent; ` +
      `extra per acquire (sequential, median of the repeats' 1/ops differences): ${num(m(c.waitForReplicasExtraUs))} µs.`,
  );

  const st = c.stampede.find((x) => x.config === 'standalone')!;
  const sc = CONFIG.cluster.stampede;
  parts.push(
    `#### 6c. Stampede in this process: ${sc.apps} apps × ${sc.callersPerApp} callers, one cold user, load ${sc.loadMs} ms\n\n` +
      table(
        [
          'Redis',
          'loader runs',
          'errors',
          'waiter extra p50 / p99 / max ms',
          'p99 x standalone',
          'wall ms',
        ],
        c.stampede.map((x) => [
          x.label,
          num(m(x.loaderRuns)),
          num(m(x.errors)),
          `${num(m(x.waiterExtraP50Ms))} / ${num(m(x.waiterExtraP99Ms))} / ${num(m(x.waiterExtraMaxMs))}`,
          ratio(m(x.waiterExtraP99Ms), m(st.waiterExtraP99Ms)),
          num(m(x.wallMs)),
        ]),
      ),
  );

  const first = (path: string) =>
    c.traffic.filter((x) => x.path === path).sort((a, b) => a.masters - b.masters)[0];
  parts.push(
    '#### 6d. Cluster-bus traffic per notice (`CLUSTER INFO` deltas summed over every node)\n\n' +
      table(
        [
          'Cluster',
          'nodes',
          'notice path (client)',
          'notices',
          'PUBLISH bus messages / notice',
          'SPUBLISH bus messages / notice',
          'total / notice',
          'expected',
          `x ${first('sharded')?.masters ?? '?'} masters`,
        ],
        c.traffic.map((x) => [
          `${x.masters} masters + ${x.masters * x.replicasPerMaster} replicas`,
          String(x.nodes),
          `${x.path} (${x.client})`,
          num(x.notices),
          num(m(x.publishPerNotice)),
          num(m(x.publishShardPerNotice)),
          num(m(x.totalPerNotice)),
          `${x.expectedPerNotice} (${x.path === 'sharded' ? "the shard's replicas" : 'every other node'})`,
          ratio(m(x.totalPerNotice), m(first(x.path).totalPerNotice)),
        ]),
      ) +
      '\n\nFields `cluster_stats_messages_publish_sent` and `cluster_stats_messages_publishshard_sent`; each `clearLoaded` publishes one notice.',
  );

  if (c.targets)
    parts.push(
      '#### Redis Cluster targets\n\n' +
        table(
          ['target', 'measured', 'met'],
          c.targets.map((t) => [t.target, t.measured, t.met ? 'yes' : '**no**']),
        ),
    );
  return parts.join('\n\n');
}

function renderSteady(st: SteadyResult): string {
  const c = st.settings;
  const row = (v: string) => st.rows.find((x) => x.variant === v)!;
  const [off, ahead, ref] = ['library', 'library-refresh-ahead', 'reference'].map(row);
  const p99 = (x: typeof off): number => m(x.p99Ms);
  // Refresh-ahead's p99 is a few hundredths of the others' or less: two significant digits.
  const times = (a: number, b: number): string =>
    a / b < 0.1 && a / b > 0 ? `${(a / b).toPrecision(2)}x` : ratio(a, b);
  const offPeriod = c.loadedTtlMs + c.loadMs;
  const aheadPeriod = c.loadedTtlMs - c.refreshAheadMs + c.loadMs;
  const errors = (x: typeof off): string =>
    num(m(x.errors)) +
    (Object.keys(x.errorKinds).length > 0
      ? ` (${Object.entries(x.errorKinds)
          .map(([k, v]) => `${k} ×${v}`)
          .join(', ')})`
      : '');
  return (
    `### 7. Steady traffic across TTL expiry: ${c.processes} processes × a call every ${c.everyMs} ms (${c.users} users round robin), flag TTL ${c.loadedTtlMs} ms, load ${c.loadMs} ms, ${c.ttls} TTLs per row\n\n` +
    table(
      [
        'strategy',
        'callers',
        'latency p50 / p99 / max ms',
        'p99 x no refresh-ahead',
        'p99 x reference',
        `callers > ${c.waitedMs} ms`,
        'not already-loaded',
        'loader runs (background)',
        'loads per TTL window, per user',
        "median gap between a user's loads ms",
        'errors',
      ],
      st.rows.map((x) => [
        x.label,
        num(m(x.callers)),
        `${num(m(x.p50Ms))} / ${num(p99(x))} / ${num(m(x.maxMs))}`,
        times(p99(x), p99(off)),
        times(p99(x), p99(ref)),
        num(m(x.waited)),
        num(m(x.notFromFlag)),
        `${num(m(x.loaderRuns))} (${num(m(x.backgroundLoads))})`,
        num(m(x.loadsPerTtl)),
        num(m(x.loadGapMs)),
        errors(x),
      ]),
    ) +
    `\n\np99 with refreshAheadMs ${c.refreshAheadMs}: ${num(p99(ahead))} ms = ${times(p99(ahead), p99(off))} of the library's without it (${num(p99(off))} ms) and ${times(p99(ahead), p99(ref))} of the reference's (${num(p99(ref))} ms). ` +
    `Expected load period (gap between a user's loads): without refresh-ahead ≈ TTL + load = ${offPeriod} ms plus the wait for the next caller (the reference's waiters add up to a 100 ms poll), ` +
    `≈ ${num(c.loadedTtlMs / offPeriod)} loads per TTL window; with it ≈ TTL − refreshAheadMs + load = ${aheadPeriod} ms, ≈ ${num(c.loadedTtlMs / aheadPeriod)} per TTL window. ` +
    `The window holds ${c.ttls} TTLs, so the count of loads in it is coarse (whole expiries); the gap is not.` +
    '\n\nLatency: call start to settle in the worker, every paced call of every process in one HDR histogram per repeat (`hdr-histogram-js`). ' +
    "Before each row's traffic one process loads every user once (cold, not measured). Loader runs are counted in the workers' loaders; " +
    '"background" = the loader of a call answered `already-loaded` (a refresh-ahead).\n\n' +
    table(
      [
        'strategy',
        'p99 ms per repeat',
        'cold loads before the traffic, per repeat',
        'traffic ms',
        'pacing timer late p99 / max ms',
        'calls skipped (timer behind)',
      ],
      st.rows.map((x) => [
        x.label,
        x.p99Ms.runs.map(num).join(', '),
        x.primeLoads.join(', '),
        num(m(x.trafficMs)),
        `${num(m(x.timerLateP99Ms))} / ${num(m(x.timerLateMaxMs))}`,
        num(m(x.skipped)),
      ]),
    ) +
    `\n\nTook ${num(st.durationSec)} s (worker start-up included).`
  );
}

export function renderMarkdown(r: BenchResults): string {
  const parts: string[] = [];
  const meta = r.meta;
  parts.push(
    `Run ${meta.date} · \`${meta.command}\` · ${meta.quick ? 'QUICK smoke run (not for quoting) · ' : ''}` +
      `${meta.repeats} repeats, medians · Node ${meta.node} · Redis ${meta.redis} on loopback · ` +
      `${meta.cpus} × ${meta.cpuModel} · ${meta.platform} · took ${num(meta.durationSec)} s · ` +
      `load average at start ${meta.loadAverageAtStart.join(' / ')}, at end ${meta.loadAverageAtEnd.join(' / ')} · ` +
      `CPU placement: ${meta.pinning}`,
  );

  if (r.hotPath) {
    const getOf = (placement: string): number =>
      m(
        r.hotPath!.rows.find((x) => x.id.startsWith('get') && x.placement === placement)
          ?.checksPerSec ?? { median: Number.NaN, runs: [] },
      );
    const placements = [...new Set(r.hotPath.rows.map((x) => x.placement))].filter(
      (p) => p !== 'no round trip',
    );
    parts.push(
      '### 1. Hot path: a loaded user, sequential checks in one process\n\n' +
        table(
          [
            'check',
            'round trip placement',
            'checks/s',
            ...placements.map((p) => `x one GET (${p})`),
            'p50 µs',
            'p99 µs',
          ],
          r.hotPath.rows.map((x) => [
            x.label,
            x.placement,
            num(m(x.checksPerSec)),
            ...placements.map((p) =>
              x.placement === p || x.placement === 'no round trip'
                ? ratio(m(x.checksPerSec), getOf(p))
                : '—',
            ),
            num(m(x.p50Us)),
            num(m(x.p99Us)),
          ]),
        ) +
        `\n\nDecorated call on a loaded user vs the undecorated method: overhead p50 ${num(m(r.hotPath.decorator.p50OverheadUs))} µs, ` +
        `p99 ${num(m(r.hotPath.decorator.p99OverheadUs))} µs, mean ${num(m(r.hotPath.decorator.meanOverheadUs))} µs per call ` +
        `(the decorated body ran ${r.hotPath.decoratedBodyRuns} times while measured). ` +
        `The rows above run with no \`events$\` subscriber (the default) except the one that says so; its subscriber received ${r.hotPath.eventsSeen} events (a near-cache hit emits none).`,
    );
  }

  if (r.lockCycle) {
    type Row = (typeof r.lockCycle)[number];
    const seq = (x: Row): number => m(x.sequentialOpsPerSec);
    const conc = (x: Row): number => m(x.concurrentOpsPerSec);
    const rows: string[][] = [];
    for (const placement of [...new Set(r.lockCycle.map((x) => x.placement))]) {
      const group = r.lockCycle.filter((x) => x.placement === placement);
      const ref = group.find((x) => x.strategy === 'reference')!;
      const fastSeq = fastestRedisLock(group, seq);
      const fastConc = fastestRedisLock(group, conc);
      for (const x of group)
        rows.push([
          `${STRATEGY_LABELS[x.strategy]}${x.variant ? ` (${x.variant})` : ''}`,
          placement,
          num(seq(x)),
          ratio(seq(x), seq(ref)),
          ratio(seq(x), seq(fastSeq)),
          num(conc(x)),
          ratio(conc(x), conc(ref)),
          ratio(conc(x), conc(fastConc)),
        ]);
    }
    const c = CONFIG.lockCycle.concurrency;
    parts.push(
      `### 2. Lock cycle: acquire + release in one process (${c} concurrent = ${c} loops on ${c} distinct users)\n\n` +
        table(
          [
            'strategy',
            'placement',
            'sequential ops/s',
            'x reference',
            'x fastest Redis lock',
            `${c} concurrent ops/s`,
            'x reference',
            'x fastest Redis lock',
          ],
          rows,
        ),
    );
  }

  if (r.stampede) {
    const rows: string[][] = [];
    for (const x of r.stampede) {
      const ref = r.stampede.find((y) => y.strategy === 'reference' && y.loadMs === x.loadMs)!;
      const note = x.strategy === 'async-mutex' ? ' ¹' : '';
      rows.push([
        `${STRATEGY_LABELS[x.strategy]}${note}`,
        String(x.loadMs),
        num(m(x.loaderRuns)),
        num(m(x.errors)),
        `${num(m(x.waiterExtraP50Ms))} / ${num(m(x.waiterExtraP99Ms))} / ${num(m(x.waiterExtraMaxMs))}`,
        ratio(m(x.waiterExtraP99Ms), m(ref.waiterExtraP99Ms)),
        num(m(x.redisCommands)),
        ratio(m(x.redisCommands), m(ref.redisCommands)),
        num(m(x.roundTrips)),
        num(m(x.wallMs)),
      ]);
    }
    parts.push(
      `### 3. Stampede: ${CONFIG.stampede.processes} processes × ${CONFIG.stampede.callersPerProcess} callers, one cold user\n\n` +
        table(
          [
            'strategy',
            'load ms',
            'loader runs',
            'errors',
            'waiter extra p50 / p99 / max ms',
            'p99 x ref',
            'Redis commands',
            'x ref',
            'round trips',
            'wall ms',
          ],
          rows,
        ) +
        '\n\n¹ async-mutex cannot coordinate processes: each process loads once (flag in Redis).' +
        '\nRedis commands: `INFO commandstats` delta without INFO, so a Lua script counts as its EVALSHA plus every command it runs; round trips: commands the processes sent.',
    );
  }

  if (r.crash) {
    parts.push(
      `### 4. Crash: the lock winner SIGKILLed ${CONFIG.crash.killAfterMs} ms into a ${CONFIG.crash.loadMs} ms load (1 victim + 3 survivors × ${CONFIG.crash.callersPerProcess} callers; a new request every ${CONFIG.crash.newRequestEveryMs} ms after the kill; cap ${num(CONFIG.crash.capMs / 1000)} s)\n\n` +
        table(
          [
            'strategy',
            'kill → load completed elsewhere',
            "survivors' caller errors",
            'still waiting at cap',
            'new requests (errors)',
            'loads after kill',
            'errors seen',
          ],
          r.crash.map((x) =>
            x.note
              ? [STRATEGY_LABELS[x.strategy], x.note, '', '', '', '', '']
              : [
                  STRATEGY_LABELS[x.strategy],
                  Number.isFinite(m(x.takeoverMs))
                    ? `${num(m(x.takeoverMs))} ms`
                    : `> ${num(x.capMs / 1000)} s (none)`,
                  `${num(m(x.survivorErrors))} of ${x.survivorCallers}`,
                  num(m(x.stillWaitingAtCap)),
                  `${num(m(x.newRequests))} (${num(m(x.newRequestErrors))})`,
                  num(m(x.loaderRunsAfterKill)),
                  Object.entries(x.errorKinds)
                    .map(([k, v]) => `${k} ×${v}`)
                    .join(', ') || '—',
                ],
          ),
        ),
    );
  }

  if (r.manyUsers) {
    const ref = r.manyUsers.find((x) => x.strategy === 'reference')!;
    const cfg = CONFIG.manyUsers;
    parts.push(
      `### 5. ${num(cfg.users)} users × ${cfg.callersPerUser} callers across ${cfg.processes} processes (load ${cfg.loadMs} ms)\n\n` +
        table(
          [
            'strategy',
            'loads',
            'errors',
            'total ms',
            'x ref',
            'caller p99 ms',
            'Redis commands',
            'x ref',
            'round trips',
          ],
          r.manyUsers.map((x) => [
            `${STRATEGY_LABELS[x.strategy]}${x.strategy === 'async-mutex' ? ' ¹' : ''}`,
            num(m(x.loads)),
            num(m(x.errors)),
            num(m(x.totalMs)),
            ratio(m(x.totalMs), m(ref.totalMs)),
            num(m(x.callerP99Ms)),
            num(m(x.redisCommands)),
            ratio(m(x.redisCommands), m(ref.redisCommands)),
            num(m(x.roundTrips)),
          ]),
        ) +
        '\n\n¹ per process: up to one load per user per process.',
    );
  }

  if (r.cluster) parts.push(renderCluster(r.cluster));
  if (r.steady) parts.push(renderSteady(r.steady));

  if (r.targets && r.targets.length > 0) {
    parts.push(
      '### Issue 4 targets\n\n' +
        table(
          ['target', 'measured', 'met'],
          r.targets.map((t) => [t.target, t.measured, t.met ? 'yes' : '**no**']),
        ),
    );
  }
  if (r.errors.length > 0) parts.push(`### Errors\n\n${r.errors.map((e) => `- ${e}`).join('\n')}`);
  return parts.join('\n\n') + '\n';
}
