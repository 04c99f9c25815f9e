/**
 * Validation issues: a JSON path into the document and a sentence saying what is wrong there, e.g.
 * `environments.production.rules[1].when[0].op: unknown operator "inn" (did you mean "in"?)`.
 */
export type PathSegment = string | number;

export interface ValidationIssue {
  /** The key of the document the issue is in, when validating several. */
  readonly document?: string;
  /** Dot/bracket path into the document; empty for the document itself. */
  readonly path: string;
  readonly message: string;
}

const PLAIN_KEY = /^[A-Za-z_$][A-Za-z0-9_$-]*$/;
/** An array index: digits, no leading zero, at most 15 of them (so a safe integer). */
const INDEX = /^(0|[1-9]\d{0,14})$/;

/** A key as a path segment: a number when it reads as an array index, so that `formatPath` brackets it. */
export function pathSegment(key: string): PathSegment {
  return INDEX.test(key) ? Number(key) : key;
}

/** A JSON pointer (RFC 6901) as path segments: `/events/3/flag` → `['events', 3, 'flag']`. */
export function pointerSegments(pointer: string): PathSegment[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((raw) => pathSegment(raw.replace(/~1/g, '/').replace(/~0/g, '~')));
}

/** `['environments', 'production', 'rules', 1, 'when', 0]` → `environments.production.rules[1].when[0]`. */
export function formatPath(segments: readonly PathSegment[]): string {
  let out = '';
  for (const segment of segments) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (PLAIN_KEY.test(segment)) out += out === '' ? segment : `.${segment}`;
    else out += `[${JSON.stringify(segment)}]`;
  }
  return out;
}

/** One line per issue, `[document] path: message`. */
export function formatIssues(issues: readonly ValidationIssue[]): string {
  return issues
    .map((i) => `${i.document ? `${i.document} ` : ''}${i.path ? `${i.path}: ` : ''}${i.message}`)
    .join('\n');
}

/** Collects issues under a path; `at` descends without copying the collector. */
export class IssueList {
  readonly issues: ValidationIssue[] = [];

  constructor(private readonly document?: string) {}

  add(path: readonly PathSegment[], message: string): void {
    const issue = { path: formatPath(path), message };
    this.issues.push(this.document === undefined ? issue : { document: this.document, ...issue });
  }

  get ok(): boolean {
    return this.issues.length === 0;
  }
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j]!;
      row[j] = Math.min(above + 1, row[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length]!;
}

/**
 * ` (did you mean "x"?)` for the closest candidate within a small edit distance, else ``. A candidate
 * that extends the input ("of" → "off") wins a tie.
 */
export function didYouMean(input: string, candidates: readonly string[]): string {
  let best: string | undefined;
  let bestScore = Math.max(2, Math.floor(input.length / 3)) + 1;
  const lower = input.toLowerCase();
  for (const candidate of candidates) {
    const other = candidate.toLowerCase();
    const score = distance(lower, other) - (other.startsWith(lower) || lower.startsWith(other) ? 0.5 : 0);
    if (score < bestScore) {
      best = candidate;
      bestScore = score;
    }
  }
  return best === undefined ? '' : ` (did you mean "${best}"?)`;
}

/** A short description of a JSON value's type, for messages: "a number", "null", "an array". */
export function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  const type = typeof value;
  return type === 'object' ? 'an object' : `a ${type}`;
}
