/**
 * What dominates a V8 CPU profile (`node --cpu-prof`): the functions with the most self time and the
 * most total time (self plus callees), optionally within a window of the profile's clock (µs of the
 * system's monotonic clock, as `process.hrtime` reads it: the delivery benchmark's `phaseTimes`).
 *
 *   node --import tsx bench/harness/profile-summary.ts FILE.cpuprofile [--from=µs --to=µs] [--top=25]
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { numberArg, parseArgs, stringArg } from './args.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

interface Summary {
  totalMs: number;
  self: { name: string; ms: number; share: number }[];
  total: { name: string; ms: number; share: number }[];
}

function nameOf(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  if (url === '') return functionName || '(anonymous)';
  const file = url.startsWith('file://') ? relative(process.cwd(), new URL(url).pathname) : url;
  return `${functionName || '(anonymous)'} ${file}:${lineNumber + 1}`;
}

function summarize(profile: CpuProfile, from = -Infinity, to = Infinity, top = 25): Summary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  let time = profile.startTime;
  let totalUs = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    time += profile.timeDeltas[i] ?? 0;
    if (time < from || time > to) continue;
    const delta = profile.timeDeltas[i + 1] ?? 0;
    totalUs += delta;
    let id: number | undefined = profile.samples[i]!;
    const leaf = nameOf(byId.get(id)!);
    self.set(leaf, (self.get(leaf) ?? 0) + delta);
    const seen = new Set<string>();
    while (id !== undefined) {
      const name = nameOf(byId.get(id)!);
      if (!seen.has(name)) {
        seen.add(name);
        total.set(name, (total.get(name) ?? 0) + delta);
      }
      id = parent.get(id);
    }
  }
  const rank = (map: Map<string, number>) =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, ms: us / 1000, share: us / Math.max(1, totalUs) }));
  return { totalMs: totalUs / 1000, self: rank(self), total: rank(total) };
}

const args = parseArgs(process.argv.slice(3));
const file = process.argv[2];
if (file === undefined) throw new Error('usage: profile-summary.ts FILE.cpuprofile [--from=µs --to=µs]');
const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
const from = stringArg(args, 'from');
const to = stringArg(args, 'to');
const summary = summarize(
  profile,
  from === undefined ? -Infinity : Number(from),
  to === undefined ? Infinity : Number(to),
  numberArg(args, 'top', 25),
);
const line = (e: { name: string; ms: number; share: number }) =>
  `${(e.share * 100).toFixed(1).padStart(5)}%  ${e.ms.toFixed(0).padStart(7)} ms  ${e.name}`;
console.log(`${summary.totalMs.toFixed(0)} ms sampled\n\nself time:`);
for (const e of summary.self) console.log(line(e));
console.log('\ntotal time (with callees):');
for (const e of summary.total) console.log(line(e));
