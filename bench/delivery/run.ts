/**
 * The delivery benchmark (`npm run bench:delivery`): a real `switchyard serve` process on LMDB with
 * 1,000,000 flags applied through the API, then, in one run:
 *
 * - the snapshot of every namespace: serve time (cold, then warm ×3) and size;
 * - SDK cold starts (×3) of a client of every namespace: time to `ready()`, RSS increase;
 * - OFREP single-flag evaluations/s with wrk, 64 connections, 2 threads, random flags and targeting keys;
 * - propagation from the API's acknowledgement to the SDK's `change` event with 1,000 streaming clients
 *   of one namespace, directly, through one `switchyard relay` of every namespace (a region's relay), and
 *   through one relay of that namespace only (`--namespaces`).
 *
 *   --flags=N (1,000,000)  --connections=N (1,000)  --processes=N (4)  --changes=N (200)  --pause-ms=N (100)
 *   --wrk-seconds=N (15)  --wrk-warmup-seconds=N (5)  --cold-starts=N (3)  --phases=snapshot,cold,ofrep,direct,relay,relay-one
 *   --profile DIR (the server runs with --cpu-prof into DIR; phase times are in the JSON, on its clock)
 *   --json FILE
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { numberArg, parseArgs, stringArg } from '../harness/args.js';
import { type ChildOutcome, runChild } from '../harness/child.js';
import { describeMachine, machineInfo } from '../harness/machine.js';
import { writeJsonReport } from '../harness/output.js';
import {
  apiClient,
  applyFlags,
  freePort,
  rssMiB,
  type SwitchyardProcess,
  startSwitchyard,
} from '../harness/switchyard-process.js';
import type { ColdStart } from './cold-start.js';
import { measurePropagation } from './propagation.js';
import { type DeliveryResults, renderReport } from './report.js';
import { deliveryFlag, FLAGS_PER_NAMESPACE, flagKey, namespaceOf } from './workload.js';
import { ensureWrk, runWrk, writeOfrepScript } from './wrk.js';

const PHASES = ['snapshot', 'cold', 'ofrep', 'direct', 'relay', 'relay-one'] as const;
type Phase = (typeof PHASES)[number];

const args = parseArgs();
const FLAGS = numberArg(args, 'flags', 1_000_000);
const CONNECTIONS = numberArg(args, 'connections', 1000);
const PROCESSES = numberArg(args, 'processes', 4);
const CHANGES = numberArg(args, 'changes', 200);
const PAUSE_MS = numberArg(args, 'pause-ms', 100);
const WRK_SECONDS = numberArg(args, 'wrk-seconds', 15);
const WRK_WARMUP_SECONDS = numberArg(args, 'wrk-warmup-seconds', 5);
const COLD_STARTS = numberArg(args, 'cold-starts', 3);
const OFREP_KEYS = 5000;
const WARMUP_CHANGES = 10;
const phases = new Set((stringArg(args, 'phases') ?? PHASES.join(',')).split(',') as Phase[]);
for (const phase of phases) if (!PHASES.includes(phase)) throw new Error(`unknown phase "${phase}"`);
const profileDir = stringArg(args, 'profile');
if (FLAGS < 3 * FLAGS_PER_NAMESPACE) throw new Error(`--flags must be at least ${3 * FLAGS_PER_NAMESPACE}`);

const log = (message: string) => process.stderr.write(`${message}\n`);
/** Phase boundaries in µs of the monotonic clock V8's CPU profiles use, to cut a profile into phases. */
const phaseTimes: { phase: string; startUs: number; endUs: number }[] = [];
/** Phases that failed, with why: the others still run and are reported. */
const failures: Record<string, string> = {};

async function phase<T>(name: Phase | 'apply', title: string, run: () => Promise<T>): Promise<T | undefined> {
  const startUs = Number(process.hrtime.bigint() / 1000n);
  log(title);
  try {
    return await run();
  } catch (error) {
    failures[name] = (error as Error).message;
    log(`  FAILED: ${(error as Error).stack ?? error}`);
    return undefined;
  } finally {
    phaseTimes.push({ phase: name, startUs, endUs: Number(process.hrtime.bigint() / 1000n) });
  }
}

async function timeSnapshot(url: string, key: string): Promise<{ ms: number; bytes: number; lines: number }> {
  const started = performance.now();
  const response = await fetch(`${url}/sdk/v1/snapshot`, { headers: { authorization: `Bearer ${key}` } });
  if (response.status !== 200) throw new Error(`snapshot → ${response.status}: ${await response.text()}`);
  const body = new Uint8Array(await response.arrayBuffer());
  const ms = performance.now() - started;
  let lines = 0;
  for (let i = body.indexOf(10); i !== -1; i = body.indexOf(10, i + 1)) lines++;
  return { ms, bytes: body.byteLength, lines };
}

async function waitForSnapshot(
  url: string,
  key: string,
  namespace: string,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const response = await fetch(`${url}/sdk/v1/snapshot?namespaces=${encodeURIComponent(namespace)}`, {
        headers: { authorization: `Bearer ${key}` },
      });
      last = `${response.status} ${(await response.text()).slice(0, 200)}`;
      if (response.status === 200) return;
    } catch (error) {
      last = (error as Error).message;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`no snapshot of ${namespace} from ${url} within ${timeoutMs} ms: ${last}`);
}

const dir = mkdtempSync(join(tmpdir(), 'switchyard-bench-delivery-'));
const nodeFlags: string[] = [];
if (profileDir !== undefined) {
  mkdirSync(resolve(profileDir), { recursive: true });
  nodeFlags.push('--cpu-prof', '--cpu-prof-dir', resolve(profileDir));
}
const server = await startSwitchyard({
  args: [
    'serve',
    '--data',
    join(dir, 'server'),
    '--rate-limit-per-token',
    '0',
    '--rate-limit-per-namespace',
    '0',
  ],
  port: await freePort(),
  nodeFlags,
});
let relay: SwitchyardProcess | undefined;
const api = apiClient(server.url);
const results: DeliveryResults = {
  flags: FLAGS,
  connections: CONNECTIONS,
  applySeconds: 0,
  serverRss: {},
  failures,
};
const noteRss = (when: string) => {
  results.serverRss[when] = rssMiB(server.child.pid!);
};

try {
  log(`applying ${FLAGS} flags`);
  const started = performance.now();
  await applyFlags(api, 0, FLAGS, deliveryFlag);
  results.applySeconds = (performance.now() - started) / 1000;
  noteRss('after apply');
  const token = async (role: 'sdk-server' | 'sdk-client') =>
    (
      JSON.parse(
        await api('POST', '/api/v1/tokens', { name: `bench ${role}`, role, environments: ['production'] }),
      ) as { token: string }
    ).token;
  const sdkServerKey = await token('sdk-server');
  const sdkClientKey = await token('sdk-client');

  if (phases.has('snapshot')) {
    results.snapshot = await phase(
      'snapshot',
      'snapshot of every namespace: cold, then warm ×3',
      async () => {
        const cold = await timeSnapshot(server.url, sdkServerKey);
        if (cold.lines !== FLAGS + 1)
          throw new Error(`the snapshot has ${cold.lines - 1} records, not ${FLAGS}`);
        const warm: number[] = [];
        for (let i = 0; i < 3; i++) warm.push((await timeSnapshot(server.url, sdkServerKey)).ms);
        return { cold: { ms: cold.ms, bytes: cold.bytes }, warm, bytes: cold.bytes };
      },
    );
    noteRss('after snapshots');
  }

  if (phases.has('cold')) {
    results.coldStarts = await phase('cold', `SDK cold start ×${COLD_STARTS}`, async () => {
      const runs: ColdStart[] = [];
      for (let i = 0; i < COLD_STARTS; i++) {
        const outcome: ChildOutcome<ColdStart> = await runChild(
          new URL('./cold-start.ts', import.meta.url),
          [server.url, sdkServerKey],
          { timeoutMs: 300_000, nodeFlags },
        );
        if (!outcome.ok) throw new Error(`cold start failed: ${outcome.reason}\n${outcome.stderrTail}`);
        const run = outcome.result;
        if (run.source !== 'server' || !run.check) {
          throw new Error(`cold start got data from ${run.source}, check ${run.check ? 'ok' : 'failed'}`);
        }
        log(
          `  ready in ${(run.ms / 1000).toFixed(2)} s, RSS +${((run.rssReady - run.rssBefore) / 2 ** 20).toFixed(0)} MiB`,
        );
        runs.push(run);
      }
      return runs;
    });
    noteRss('after cold starts');
  }

  if (phases.has('ofrep')) {
    results.ofrep = await phase('ofrep', 'OFREP with wrk, 64 connections, 2 threads', async () => {
      ensureWrk();
      const probe = await fetch(`${server.url}/ofrep/v1/evaluate/flags/${flagKey(1)}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${sdkClientKey}`, 'content-type': 'application/json' },
        body: '{"context":{"targetingKey":"u1"}}',
      });
      const answer = (await probe.json()) as { value?: unknown };
      if (probe.status !== 200 || answer.value !== true) {
        throw new Error(`OFREP of ${flagKey(1)} → ${probe.status} ${JSON.stringify(answer)}`);
      }
      const keys = Array.from({ length: OFREP_KEYS }, () => flagKey(Math.floor(Math.random() * FLAGS)));
      const script = writeOfrepScript(dir, keys, sdkClientKey);
      const load = { connections: 64, threads: 2 };
      const { output: _w, ...warmup } = await runWrk(server.url, script, {
        ...load,
        seconds: WRK_WARMUP_SECONDS,
      });
      const { output, ...measured } = await runWrk(server.url, script, { ...load, seconds: WRK_SECONDS });
      log(output.trimEnd());
      return { ...measured, warmup };
    });
    noteRss('after OFREP');
  }

  const propagation = {
    api,
    connections: CONNECTIONS,
    processes: PROCESSES,
    changes: CHANGES,
    warmup: WARMUP_CHANGES,
    pauseMs: PAUSE_MS,
  };
  if (phases.has('direct')) {
    results.direct = await phase('direct', `propagation, ${CONNECTIONS} SDK clients on the server`, () =>
      measurePropagation({ ...propagation, url: server.url, sdkKey: sdkServerKey, namespaceIndex: 0 }),
    );
    noteRss('after direct propagation');
  }

  /**
   * Propagation through a relay started for it, then stopped. `namespaces` narrows what it relays
   * (`--namespaces`); by default it relays everything the key sees, as a region's relay does.
   */
  const throughRelay = async (namespaceIndex: number, namespaces?: string) => {
    const relayDir = join(dir, `relay-${namespaceIndex}`);
    relay = await startSwitchyard({
      args: [
        'relay',
        '--upstream',
        server.url,
        '--sdk-key',
        sdkServerKey,
        '--region',
        'bench',
        '--data',
        relayDir,
        ...(namespaces === undefined ? [] : ['--namespaces', namespaces]),
      ],
      port: await freePort(),
      nodeFlags,
      timeoutMs: 600_000,
    });
    try {
      const namespace = namespaceOf(namespaceIndex * FLAGS_PER_NAMESPACE);
      await waitForSnapshot(relay.url, sdkServerKey, namespace, 600_000);
      const result = await measurePropagation({
        ...propagation,
        url: relay.url,
        sdkKey: sdkServerKey,
        namespaceIndex,
      });
      const rss = rssMiB(relay.child.pid!);
      if (result.warmupMissing + result.missing > 0) {
        log(`  the relay's log ends with:\n${relay.output().slice(-4000)}`);
      }
      return { ...result, relayRss: rss };
    } finally {
      await relay.stop();
      relay = undefined;
      rmSync(relayDir, { recursive: true, force: true });
    }
  };
  if (phases.has('relay')) {
    results.relay = await phase(
      'relay',
      `propagation, ${CONNECTIONS} SDK clients on one relay of every namespace`,
      () => throughRelay(1),
    );
  }
  if (phases.has('relay-one')) {
    const namespace = namespaceOf(2 * FLAGS_PER_NAMESPACE);
    results.relayOne = await phase(
      'relay-one',
      `propagation, ${CONNECTIONS} SDK clients on one relay of ${namespace} only (--namespaces)`,
      () => throughRelay(2, namespace),
    );
  }

  console.log(describeMachine(machineInfo()));
  console.log(renderReport(results));
  const json = stringArg(args, 'json');
  if (json !== undefined) writeJsonReport(json, { machine: machineInfo(), ...results, phaseTimes });
} finally {
  await relay?.stop();
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
