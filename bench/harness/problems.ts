/** What makes a child's result unusable for the comparison, and how that is reported. */
import type { ChildOutcome } from './child.js';
import type { Exposure } from './exposure.js';

/** What every benchmark result carries: its correctness check and any network access attempted. */
export interface CheckedResult {
  check: Exposure;
  network: readonly string[];
}

/** The result, if the child succeeded, its engine evaluated correctly and it stayed offline. */
export function validResult<R extends CheckedResult>(outcome: ChildOutcome<R> | undefined): R | undefined {
  if (!outcome?.ok) return undefined;
  const { result } = outcome;
  return result.check.ok && result.network.length === 0 ? result : undefined;
}

/** A short verdict for a table cell: why a result does not count, or undefined when it does. */
export function invalidity(outcome: ChildOutcome<CheckedResult>): string | undefined {
  if (!outcome.ok) return 'failed';
  if (outcome.result.network.length > 0) return 'network!';
  return outcome.result.check.ok ? undefined : 'wrong';
}

/** One entry per unusable run: failures with their stderr tail, wrong results, network access. */
export function describeProblems(
  runs: readonly { label: string; outcome: ChildOutcome<CheckedResult> }[],
): string[] {
  const problems: string[] = [];
  for (const { label, outcome } of runs) {
    if (!outcome.ok) {
      problems.push(`${label}: ${outcome.reason}\n${indent(outcome.stderrTail)}`);
    } else if (!outcome.result.check.ok) {
      problems.push(`${label}: wrong results: ${outcome.result.check.problems.join('; ')}`);
    } else if (outcome.result.network.length > 0) {
      problems.push(`${label}: network access: ${outcome.result.network.join(', ')}`);
    }
  }
  return problems;
}

function indent(text: string): string {
  return text
    .trimEnd()
    .split('\n')
    .map((line) => `    ${line}`)
    .join('\n');
}
