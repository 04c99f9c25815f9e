/**
 * What the benchmarks measure on the Unleash peer (setup.ts starts it), each through Unleash's own APIs:
 *
 * - flags created one by one through the admin API (create, add a strategy, enable), or in bulk through
 *   the import API (`POST /api/admin/features-batch/import`, one request per batch);
 * - changes: a flag switched on or off in `production` (`POST …/environments/production/on|off`);
 * - the Unleash process's RSS, and PostgreSQL's memory (PSS of the postmaster and its backends);
 * - propagation to an `unleash-client` SDK polling every `refreshInterval` ms: from the moment the toggle's
 *   HTTP response arrived to the SDK's `changed` event that carries the new state;
 * - the frontend API (`GET /api/frontend`, every enabled flag evaluated for one context) with wrk;
 * - the time and size of serving every flag to a backend SDK (`GET /api/client/features`).
 *
 * The flags are the delivery benchmark's (bench/delivery/workload.ts) in Unleash's terms: 6 in 10 on for
 * everyone, 3 in 10 a gradual rollout (5–95%), 1 in 10 a rollout of 100% constrained to country in US, CA,
 * GB and plan = enterprise before a 25% rollout; a third disabled. Names are the delivery keys with `/`
 * as `.` (Unleash names are URL-safe).
 */
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InMemStorageProvider, Unleash } from 'unleash-client';
import { isEnabled } from '../../delivery/workload.js';
import { WRK_SEEDED_THREADS } from '../../delivery/wrk.js';
import { type Latencies, percentiles } from '../../store/measure.js';
import { flagKey } from '../../store/workload.js';
import { TOKENS } from './setup.js';

export const PROJECT = 'default';
export const ENVIRONMENT = 'production';

export const unleashFlagName = (i: number) => flagKey(i).replaceAll('/', '.');

interface Constraint {
  contextName: string;
  operator: 'IN';
  values: string[];
  inverted: boolean;
  caseInsensitive: boolean;
}
interface Strategy {
  name: 'flexibleRollout';
  parameters: Record<string, string>;
  constraints: Constraint[];
}

const rollout = (name: string, percent: number, constraints: Constraint[] = []): Strategy => ({
  name: 'flexibleRollout',
  parameters: { rollout: String(percent), stickiness: 'default', groupId: name },
  constraints,
});

/** Flag `i` of the delivery workload as Unleash strategies (evaluated in order; any match enables). */
export function unleashStrategies(i: number): Strategy[] {
  const name = unleashFlagName(i);
  const shape = i % 10;
  if (shape === 9) {
    const constraint = (contextName: string, values: string[]): Constraint => ({
      contextName,
      operator: 'IN',
      values,
      inverted: false,
      caseInsensitive: false,
    });
    return [
      rollout(name, 100, [constraint('country', ['US', 'CA', 'GB']), constraint('plan', ['enterprise'])]),
      rollout(name, 25),
    ];
  }
  if (shape >= 6) return [rollout(name, 5 + (i % 19) * 5)];
  return [rollout(name, 100)];
}

/** Calls to Unleash's admin API with the admin token; a status other than 2xx throws. */
export type UnleashApi = (method: string, path: string, body?: unknown) => Promise<string>;

export function unleashApi(url: string, token: string = TOKENS.admin): UnleashApi {
  return async (method, path, body) => {
    const response = await fetch(`${url}${path}`, {
      method,
      headers:
        body === undefined
          ? { authorization: token }
          : { authorization: token, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    if (!response.ok)
      throw new Error(`Unleash ${method} ${path} → ${response.status}: ${text.slice(0, 300)}`);
    return text;
  };
}

const featurePath = (name: string) =>
  `/api/admin/projects/${PROJECT}/features/${encodeURIComponent(name)}/environments/${ENVIRONMENT}`;

/** The context fields the targeted flags use; Unleash refuses an import that names unknown ones. */
export async function createContextFields(api: UnleashApi): Promise<void> {
  for (const name of ['country', 'plan']) {
    await api('POST', '/api/admin/context', { name, stickiness: false });
  }
}

/** Creates flags `from` … `to - 1` one at a time through the admin API: 3 requests each (or 4). */
export async function createFlagsOneByOne(api: UnleashApi, from: number, to: number): Promise<void> {
  for (let i = from; i < to; i++) {
    const name = unleashFlagName(i);
    await api('POST', `/api/admin/projects/${PROJECT}/features`, { name, type: 'release' });
    for (const strategy of unleashStrategies(i))
      await api('POST', `${featurePath(name)}/strategies`, strategy);
    if (isEnabled(i)) await api('POST', `${featurePath(name)}/on`);
  }
}

/** Creates flags `from` … `to - 1` through the import API, `batch` a request, one request at a time. */
export async function importFlags(api: UnleashApi, from: number, to: number, batch = 1000): Promise<void> {
  for (let start = from; start < to; start += batch) {
    const end = Math.min(start + batch, to);
    const features = [];
    const featureStrategies: (Strategy & { featureName: string; sortOrder: number; segments: [] })[] = [];
    const featureEnvironments = [];
    for (let i = start; i < end; i++) {
      const name = unleashFlagName(i);
      features.push({ name, type: 'release', project: PROJECT });
      unleashStrategies(i).forEach((strategy, sortOrder) => {
        featureStrategies.push({ ...strategy, featureName: name, sortOrder, segments: [] });
      });
      featureEnvironments.push({ name, featureName: name, environment: ENVIRONMENT, enabled: isEnabled(i) });
    }
    await api('POST', '/api/admin/features-batch/import', {
      project: PROJECT,
      environment: ENVIRONMENT,
      data: {
        features,
        featureStrategies,
        featureEnvironments,
        featureTags: [],
        tagTypes: [],
        contextFields: [
          { name: 'country', stickiness: false },
          { name: 'plan', stickiness: false },
        ],
        segments: [],
      },
    });
    process.stderr.write(`  imported ${end}\n`);
  }
}

/** Switches flag `name` on or off in production. */
export async function toggle(api: UnleashApi, name: string, on: boolean): Promise<void> {
  await api('POST', `${featurePath(name)}/${on ? 'on' : 'off'}`);
}

/** A process's resident memory in MiB (VmRSS), from /proc. */
export function processRssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
}

/**
 * PostgreSQL's memory in MiB: the proportional set size (shared buffers split between the processes that
 * touched them, so nothing is counted twice) of the postmaster and every process it started.
 */
export function postgresPssMiB(postmasterPid: number): number {
  const pids = [postmasterPid];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === postmasterPid) pids.push(Number(entry));
    } catch {}
  }
  let kB = 0;
  for (const pid of pids) {
    try {
      kB += Number(/^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0);
    } catch {}
  }
  return kB / 1024;
}

export interface PropagationResult extends Latencies {
  min: number;
  samples: number[];
  pollMs: number;
}

/**
 * One `unleash-client` (the SDK, polling every `pollMs`), following `url`; `changes` flags (among
 * `flags`, the plain on/off ones) switched one after another, each once the previous one was seen. A
 * sample is the time from the toggle's HTTP response to the SDK's `changed` event in which the flag has
 * its new state. Between changes a random pause of 0…pollMs, so changes do not keep one phase of the poll.
 */
export async function measurePropagation(options: {
  url: string;
  api: UnleashApi;
  flags: number;
  changes: number;
  pollMs: number;
  timeoutMs?: number;
}): Promise<PropagationResult> {
  const { api, pollMs } = options;
  const client = new Unleash({
    appName: 'switchyard-bench',
    url: `${options.url}/api/`,
    customHeaders: { authorization: TOKENS.client },
    refreshInterval: pollMs,
    disableMetrics: true,
    storageProvider: new InMemStorageProvider(),
    skipInstanceCountWarning: true,
  });
  client.on('error', (error: Error) => process.stderr.write(`  unleash-client: ${error.message}\n`));
  try {
    if (!client.isSynchronized()) await once(client, 'synchronized');
    const samples: number[] = [];
    const used = new Set<number>();
    for (let n = 0; n < options.changes; n++) {
      let i: number;
      do i = Math.floor(Math.random() * options.flags);
      while (i % 10 >= 6 || used.has(i));
      used.add(i);
      const name = unleashFlagName(i);
      const before = client.getFeatureToggleDefinition(name);
      if (before === undefined) throw new Error(`the SDK does not know ${name}`);
      const target = !before.enabled;
      let seenAt = Number.NaN;
      const seen = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          client.off('changed', onChanged);
          reject(new Error(`the SDK did not see ${name} change within ${options.timeoutMs ?? 120_000} ms`));
        }, options.timeoutMs ?? 120_000);
        function onChanged() {
          if (client.getFeatureToggleDefinition(name)?.enabled !== target) return;
          seenAt = performance.now();
          clearTimeout(timer);
          client.off('changed', onChanged);
          resolve();
        }
        client.on('changed', onChanged);
      });
      await toggle(api, name, target);
      const acknowledged = performance.now();
      await seen;
      samples.push(seenAt - acknowledged);
      await new Promise((resolve) => setTimeout(resolve, Math.random() * pollMs));
    }
    return {
      ...percentiles(samples),
      min: Math.min(...samples),
      samples: samples.map((s) => Math.round(s)),
      pollMs,
    };
  } finally {
    client.destroy();
  }
}

/** Serves every flag to a backend SDK (`GET /api/client/features`): ms and bytes. */
export async function timeServeAll(url: string): Promise<{ ms: number; bytes: number; flags: number }> {
  const started = performance.now();
  const response = await fetch(`${url}/api/client/features`, { headers: { authorization: TOKENS.client } });
  const body = await response.text();
  const ms = performance.now() - started;
  if (response.status !== 200) throw new Error(`GET /api/client/features → ${response.status}`);
  const flags = (JSON.parse(body) as { features: unknown[] }).features.length;
  return { ms, bytes: Buffer.byteLength(body), flags };
}

/** The wrk script for the frontend API: GET with a random userId, the frontend token. */
export function writeFrontendScript(dir: string): string {
  const path = join(dir, 'unleash-frontend.lua');
  writeFileSync(
    path,
    `-- generated by bench/peers/unleash-server/harness.ts
local headers = { ["Authorization"] = "${TOKENS.frontend}" }
${WRK_SEEDED_THREADS}function request()
  return wrk.format("GET", "/api/frontend?appName=bench&userId=u" .. math.random(1, 10000000), headers)
end
`,
  );
  return path;
}

/** The frontend API's answer for one context: how many flags it returned (the enabled ones). */
export async function frontendProbe(url: string): Promise<number> {
  const response = await fetch(`${url}/api/frontend?appName=bench&userId=u1`, {
    headers: { authorization: TOKENS.frontend },
  });
  if (response.status !== 200)
    throw new Error(`GET /api/frontend → ${response.status}: ${await response.text()}`);
  return ((await response.json()) as { toggles: unknown[] }).toggles.length;
}

/**
 * Waits until no other benchmark runs on this machine (`pgrep -f "bench/(…)/run"`, leaving out this
 * process and its ancestors); returns the commands it saw if it gave up after `maxWaitMs`.
 */
export async function waitForQuietMachine(maxWaitMs = 30 * 60_000): Promise<string[]> {
  const ours = new Set<number>();
  for (let pid = process.pid; pid > 1; ) {
    ours.add(pid);
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      pid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    } catch {
      break;
    }
  }
  const others = () => {
    let out = '';
    try {
      out = execFileSync('pgrep', ['-af', 'bench/(delivery|server|store|scale|eval)/run'], {
        encoding: 'utf8',
      });
    } catch {}
    return out
      .split('\n')
      .filter((line) => line.trim() !== '' && !ours.has(Number(line.split(' ')[0])))
      .map((line) => line.slice(line.indexOf(' ') + 1))
      .filter((command) => !command.startsWith('sh -c '));
  };
  const deadline = Date.now() + maxWaitMs;
  let seen = others();
  if (seen.length > 0) process.stderr.write(`  waiting for another benchmark to finish: ${seen[0]}\n`);
  while (seen.length > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 5000));
    seen = others();
  }
  return seen;
}

/** The parent of every process, from /proc. */
function parents(): Map<number, number> {
  const map = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      map.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {}
  }
  return map;
}

/** `roots` and all their descendants. */
function processTree(roots: readonly number[]): number[] {
  const ppid = parents();
  const tree = new Set(roots);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, parent] of ppid) {
      if (tree.has(parent) && !tree.has(pid)) {
        tree.add(pid);
        grew = true;
      }
    }
  }
  return [...tree];
}

/** CPU ticks (user + system) a process has used, 0 once it is gone. */
function processTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return 0;
  }
}

/**
 * The share of the machine's CPU that processes other than ours used over `ms` (from /proc/stat, minus
 * the ticks of this process, its descendants — Unleash among them — and the `extraRoots` trees: PostgreSQL,
 * a daemon of pg_ctl's, is not our descendant).
 */
export async function otherCpuBusy(extraRoots: readonly number[], ms = 2000): Promise<number> {
  const machine = () => {
    const fields = readFileSync('/proc/stat', 'utf8')
      .split('\n')[0]!
      .trim()
      .split(/\s+/)
      .slice(1)
      .map(Number);
    return { idle: fields[3]! + (fields[4] ?? 0), total: fields.reduce((a, b) => a + b, 0) };
  };
  const ours = processTree([process.pid, ...extraRoots]);
  const ownTicks = () => ours.reduce((sum, pid) => sum + processTicks(pid), 0);
  const before = machine();
  const ownBefore = ownTicks();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const after = machine();
  const own = ownTicks() - ownBefore;
  const total = after.total - before.total;
  if (total === 0) return 0;
  return Math.max(0, (total - (after.idle - before.idle) - own) / total);
}

/**
 * Then waits (up to `maxWaitMs`) until other processes use less than `threshold` of the CPU over 2 s
 * (tests are not benchmarks, but they take the same cores). Returns the last share seen.
 */
export async function waitForIdleCpu(
  extraRoots: readonly number[],
  threshold = 0.15,
  maxWaitMs = 120_000,
): Promise<number> {
  const deadline = Date.now() + maxWaitMs;
  let busy = await otherCpuBusy(extraRoots);
  if (busy >= threshold) {
    process.stderr.write(
      `  waiting for other processes to leave the CPU (${(busy * 100).toFixed(0)}% busy)\n`,
    );
  }
  while (busy >= threshold && Date.now() < deadline) busy = await otherCpuBusy(extraRoots);
  return busy;
}
