/**
 * One run of the Unleash peer: start it (setup.ts), grow it to each flag count in turn through the import
 * API, and at each count measure what the benchmarks compare (harness.ts). Used by `npm run bench:unleash`
 * (every phase) and by `npm run bench:server` (the control-plane phases only).
 *
 * Before each measurement it waits until no other benchmark runs on the machine (up to 30 minutes, then it
 * measures anyway and notes which benchmark shared the machine).
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { isEnabled } from '../../delivery/workload.js';
import { ensureWrk, runWrk, type WrkResult } from '../../delivery/wrk.js';
import { formatRate, renderTable } from '../../harness/table.js';
import { rate } from '../../store/measure.js';
import {
  createContextFields,
  createFlagsOneByOne,
  frontendProbe,
  importFlags,
  measurePropagation,
  type PropagationResult,
  postgresPssMiB,
  processRssMiB,
  timeServeAll,
  toggle,
  unleashApi,
  unleashFlagName,
  waitForIdleCpu,
  waitForQuietMachine,
  writeFrontendScript,
} from './harness.js';
import { startUnleashServer, type UnleashServer } from './setup.js';

export const PHASES = ['changes', 'serve', 'propagation', 'frontend'] as const;
export type Phase = (typeof PHASES)[number];

export interface UnleashOptions {
  /** Flag counts to grow to, in increasing order (through the import API). */
  counts: number[];
  /** Counts not reached, for which the import time is extrapolated from the measured rate. */
  extrapolate: number[];
  phases: ReadonlySet<Phase>;
  /** Flags created one by one through the admin API before the imports (the frontend API runs there too). */
  oneByOne: number;
  importBatch: number;
  seconds: number;
  /** Propagation samples with a 1 s poll at every count, and with the SDK's default poll at the last. */
  changes: number;
  defaultPollChanges: number;
  wrkSeconds: number;
  wrkWarmupSeconds: number;
  /** Longest wait for other benchmarks to finish before each measurement. */
  waitMinutes: number;
}

type Wrk = Omit<WrkResult, 'output'>;

export interface AtCount {
  flags: number;
  /** Seconds to import the flags added since the previous count, and how many. */
  importSeconds?: number;
  imported?: number;
  changesSequential?: number;
  changes16?: number;
  serve?: { coldMs: number; warmMs: number[]; bytes: number };
  propagation?: PropagationResult;
  propagationDefaultPoll?: PropagationResult;
  /** With the time of one request alone (ms), before the load. */
  frontend?: Wrk & { enabledForOneUser: number; aloneMs: number };
  unleashRssMiB: number;
  postgresPssMiB: number;
  /** Load average when the measurements at this count started, and benchmarks that shared the machine. */
  loadavg: number;
  sharedWith: string[];
}

export interface UnleashResults {
  versions: UnleashServer['versions'];
  startSeconds: number;
  oneByOne?: { flags: number; seconds: number; requests: number };
  atCounts: AtCount[];
  /** Import seconds a flag at the last count (the rate used for extrapolation). */
  importSecondsPerFlag?: number;
  extrapolated: { flags: number; importSeconds: number }[];
  /** Default poll of `unleash-client` (its `refreshInterval`), ms. */
  sdkDefaultPollMs: number;
  /** Length of each frontend API load, s. */
  wrkSeconds: number;
}

/**
 * wrk's request timeout for Unleash: at 10,000 flags and more its frontend API takes seconds a request
 * under 64 connections, and wrk's default 5 s would count them as errors.
 */
const WRK_TIMEOUT_SECONDS = 60;

/** unleash-client's default `refreshInterval`. */
const SDK_DEFAULT_POLL_MS = 15_000;
const log = (message: string) => process.stderr.write(`unleash peer: ${message}\n`);

export async function measureUnleash(options: UnleashOptions): Promise<UnleashResults> {
  const { phases } = options;
  const shared = new Set<string>();
  let postmaster: number | undefined;
  const quiet = async () => {
    for (const command of await waitForQuietMachine(options.waitMinutes * 60_000)) shared.add(command);
    const busy = await waitForIdleCpu(postmaster === undefined ? [] : [postmaster]);
    if (busy >= 0.15)
      shared.add('other processes kept ≥ 15% of the CPU busy for 2 minutes before a measurement');
  };
  await quiet();
  log('starting PostgreSQL and unleash-server');
  const server = await startUnleashServer();
  postmaster = server.postgres.pid();
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-bench-unleash-'));
  log(
    `up in ${server.startSeconds.toFixed(1)} s: unleash-server ${server.versions.unleash}, Node ${server.versions.node}, ${server.versions.postgres}`,
  );
  const api = unleashApi(server.url);
  const importApi = unleashApi(server.url, server.patToken);
  const results: UnleashResults = {
    versions: server.versions,
    startSeconds: server.startSeconds,
    atCounts: [],
    extrapolated: [],
    sdkDefaultPollMs: SDK_DEFAULT_POLL_MS,
    wrkSeconds: options.wrkSeconds,
  };
  const memory = () => ({
    unleashRssMiB: processRssMiB(server.child.pid!),
    postgresPssMiB: postgresPssMiB(server.postgres.pid()),
  });
  const frontend = async (): Promise<AtCount['frontend']> => {
    ensureWrk();
    // The frontend API answers from a cache Unleash refreshes on its own schedule: let it catch up.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const probeStarted = performance.now();
    const enabledForOneUser = await frontendProbe(server.url);
    const aloneMs = performance.now() - probeStarted;
    const script = writeFrontendScript(dir);
    const load = { connections: 64, threads: 2, timeoutSeconds: WRK_TIMEOUT_SECONDS };
    await runWrk(server.url, script, { ...load, seconds: options.wrkWarmupSeconds });
    const { output, ...measured } = await runWrk(server.url, script, {
      ...load,
      seconds: options.wrkSeconds,
    });
    log(
      `frontend API: ${measured.requestsPerSecond.toFixed(0)} req/s, p99 ${measured.p99} ms, ${measured.non2xx} non-2xx, ${measured.socketErrors} socket errors`,
    );
    return { ...measured, enabledForOneUser, aloneMs };
  };

  try {
    await createContextFields(api);
    let flags = 0;
    if (options.oneByOne > 0) {
      await quiet();
      log(`creating ${options.oneByOne} flags one by one through the admin API`);
      const started = performance.now();
      await createFlagsOneByOne(api, 0, options.oneByOne);
      const seconds = (performance.now() - started) / 1000;
      let requests = 0;
      for (let i = 0; i < options.oneByOne; i++) requests += (i % 10 === 9 ? 3 : 2) + (isEnabled(i) ? 1 : 0);
      results.oneByOne = { flags: options.oneByOne, seconds, requests };
      flags = options.oneByOne;
      const at: AtCount = { flags, ...memory(), loadavg: loadavg()[0]!, sharedWith: [] };
      if (phases.has('frontend')) {
        await quiet();
        at.frontend = await frontend();
      }
      results.atCounts.push(at);
    }

    const state = new Map<number, boolean>();
    const flip = async (i: number) => {
      const on = !(state.get(i) ?? isEnabled(i));
      state.set(i, on);
      await toggle(api, unleashFlagName(i), on);
    };
    for (const count of options.counts) {
      if (count <= flags) continue;
      await quiet();
      const before = new Set(shared);
      log(`importing flags ${flags} … ${count - 1}`);
      const started = performance.now();
      await importFlags(importApi, flags, count, options.importBatch);
      const importSeconds = (performance.now() - started) / 1000;
      const at: AtCount = {
        flags: count,
        importSeconds,
        imported: count - flags,
        ...memory(),
        loadavg: loadavg()[0]!,
        sharedWith: [],
      };
      results.importSecondsPerFlag = importSeconds / (count - flags);
      log(
        `imported ${count - flags} in ${importSeconds.toFixed(1)} s; Unleash RSS ${at.unleashRssMiB.toFixed(0)} MiB`,
      );
      flags = count;
      const random = () => Math.floor(Math.random() * count);

      if (phases.has('changes')) {
        await quiet();
        at.changesSequential = await rate(1, options.seconds, () => flip(random()));
        await quiet();
        at.changes16 = await rate(16, options.seconds, () => flip(random()));
        log(
          `changes/s: ${at.changesSequential.toFixed(1)} sequential, ${at.changes16.toFixed(1)} with 16 clients`,
        );
      }
      if (phases.has('serve')) {
        await quiet();
        const cold = await timeServeAll(server.url);
        if (cold.flags !== count)
          throw new Error(`/api/client/features served ${cold.flags} flags, not ${count}`);
        const warmMs: number[] = [];
        for (let k = 0; k < 3; k++) warmMs.push((await timeServeAll(server.url)).ms);
        at.serve = { coldMs: cold.ms, warmMs, bytes: cold.bytes };
      }
      if (phases.has('propagation')) {
        await quiet();
        log(`propagation, poll 1 s, ${options.changes} changes`);
        at.propagation = await measurePropagation({
          url: server.url,
          api,
          flags: count,
          changes: options.changes,
          pollMs: 1000,
        });
        if (options.defaultPollChanges > 0) {
          await quiet();
          log(
            `propagation, the SDK's default poll (${SDK_DEFAULT_POLL_MS / 1000} s), ${options.defaultPollChanges} changes`,
          );
          at.propagationDefaultPoll = await measurePropagation({
            url: server.url,
            api,
            flags: count,
            changes: options.defaultPollChanges,
            pollMs: SDK_DEFAULT_POLL_MS,
          });
        }
      }
      if (phases.has('frontend')) {
        await quiet();
        at.frontend = await frontend();
      }
      Object.assign(at, memory());
      at.sharedWith = [...shared].filter((command) => !before.has(command));
      results.atCounts.push(at);
    }
    const perFlag = results.importSecondsPerFlag;
    if (perFlag !== undefined) {
      for (const target of options.extrapolate) {
        if (target > flags) results.extrapolated.push({ flags: target, importSeconds: target * perFlag });
      }
    }
    return results;
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const count = (n: number) => n.toLocaleString('en');
const seconds = (ms: number) =>
  ms >= 10_000
    ? `${(ms / 1000).toFixed(1)} s`
    : ms >= 1000
      ? `${(ms / 1000).toFixed(2)} s`
      : `${ms.toFixed(0)} ms`;

/** "3.2 hours", "41 min", "52 s". */
export function formatDuration(totalSeconds: number): string {
  if (totalSeconds >= 5400) return `${(totalSeconds / 3600).toFixed(1)} hours`;
  if (totalSeconds >= 90) return `${Math.round(totalSeconds / 60)} min`;
  return `${totalSeconds.toFixed(0)} s`;
}

/** The table of one run: a column per flag count, a row per measure, the figures the issues quoted. */
export function renderUnleashReport(r: UnleashResults, quoted: Partial<Record<string, string>> = {}): string {
  const counts = r.atCounts;
  const header = ['measure', ...counts.map((c) => `${count(c.flags)} flags`)];
  const hasQuoted = Object.keys(quoted).length > 0;
  if (hasQuoted) header.push('quoted in the issues');
  const rows: string[][] = [];
  const row = (label: string, key: string, cell: (c: AtCount) => string | undefined) => {
    const cells = counts.map((c) => cell(c) ?? '–');
    if (cells.every((c) => c === '–') && quoted[key] === undefined) return;
    rows.push([label, ...cells, ...(hasQuoted ? [quoted[key] ?? ''] : [])]);
  };
  row('import through the import API (time, flags/s)', 'import', (c) =>
    c.importSeconds === undefined
      ? undefined
      : `${c.importSeconds.toFixed(1)} s for ${count(c.imported!)} (${(c.imported! / c.importSeconds).toFixed(0)}/s)`,
  );
  row('changes/s over HTTP, 1 client', 'changes1', (c) =>
    c.changesSequential === undefined ? undefined : formatRate(c.changesSequential),
  );
  row('changes/s over HTTP, 16 clients', 'changes16', (c) =>
    c.changes16 === undefined ? undefined : formatRate(c.changes16),
  );
  row('propagation, SDK poll 1 s: p50 / max (samples)', 'propagation', (c) =>
    c.propagation === undefined
      ? undefined
      : `${seconds(c.propagation.p50)} / ${seconds(c.propagation.max)} (${c.propagation.count})`,
  );
  row(
    `propagation, SDK default poll (${r.sdkDefaultPollMs / 1000} s): p50 / max`,
    'propagationDefault',
    (c) =>
      c.propagationDefaultPoll === undefined
        ? undefined
        : `${seconds(c.propagationDefaultPoll.p50)} / ${seconds(c.propagationDefaultPoll.max)} (${c.propagationDefaultPoll.count})`,
  );
  row('frontend API evaluations, wrk 64 connections', 'frontend', (c) => {
    if (c.frontend === undefined) return undefined;
    const failed = c.frontend.non2xx + c.frontend.socketErrors;
    if (c.frontend.requests === 0) return `none done in ${r.wrkSeconds} s`;
    return `${formatRate(c.frontend.requestsPerSecond)}${failed > 0 ? ` (${count(failed)} failed)` : ''}`;
  });
  row('frontend API latency p50 / p99', 'frontendLatency', (c) =>
    c.frontend === undefined || c.frontend.requests === 0
      ? undefined
      : `${seconds(c.frontend.p50)} / ${seconds(c.frontend.p99)}`,
  );
  row('  one request alone, before the load', 'frontendAlone', (c) =>
    c.frontend?.aloneMs === undefined ? undefined : seconds(c.frontend.aloneMs),
  );
  row('serve every flag to a backend SDK: first / best of 3 more', 'serve', (c) =>
    c.serve === undefined
      ? undefined
      : `${seconds(c.serve.coldMs)} / ${seconds(Math.min(...c.serve.warmMs))}`,
  );
  row('  size', 'serveSize', (c) =>
    c.serve === undefined ? undefined : `${(c.serve.bytes / 1e6).toFixed(2)} MB`,
  );
  row('Unleash RSS (its Node process)', 'rss', (c) => `${c.unleashRssMiB.toFixed(0)} MiB`);
  row('PostgreSQL PSS (all its processes)', 'postgres', (c) => `${c.postgresPssMiB.toFixed(0)} MiB`);
  const lines = [
    `Unleash ${r.versions.unleash} on ${r.versions.postgres}, Node ${r.versions.node}; started in ${r.startSeconds.toFixed(1)} s`,
    '',
    renderTable(header, rows),
  ];
  if (r.oneByOne) {
    lines.push(
      '',
      `${r.oneByOne.flags} flags created one by one through the admin API (${count(r.oneByOne.requests)} requests): ${r.oneByOne.seconds.toFixed(1)} s, ${(r.oneByOne.flags / r.oneByOne.seconds).toFixed(1)} flags/s`,
    );
  }
  for (const e of r.extrapolated) {
    lines.push(
      `${count(e.flags)} flags: not measured: the import alone would take ${formatDuration(e.importSeconds)} at the rate measured at ${count(counts.at(-1)!.flags)}`,
    );
  }
  const shared = [...new Set(counts.flatMap((c) => c.sharedWith))];
  if (shared.length > 0) lines.push(`Shared the machine with: ${shared.join('; ')}`);
  return lines.join('\n');
}
