/**
 * `matches` patterns: written in ECMAScript syntax, run on RE2 (the `re2js` port), whose matching time is
 * linear in the input for every pattern, so no pattern and no context can make an evaluation backtrack.
 * What RE2 cannot run in linear time (backreferences, lookahead, lookbehind) is refused when the document
 * is validated, with a message saying so. Both the validator and the compiler go through `compilePattern`:
 * a pattern is accepted exactly when it compiles.
 *
 * Linear is O(program size × input length), so both are bounded: a pattern compiles to at most
 * MAX_PROGRAM_SIZE instructions, and `patternFinds` tests strings of at most MAX_SUBJECT_LENGTH code units
 * (longer ones never match). Together they keep one test within a few milliseconds.
 */
import { RE2JS } from 're2js';
import { LIMITS } from '../document/schema.js';

/** A compiled pattern; test a value with `patternFinds`. */
export type Pattern = RE2JS;

/** The most RE2 instructions a pattern may compile to (counted repetitions like `{500}` cost the most). */
export const MAX_PROGRAM_SIZE = 1000;
/** The longest string (UTF-16 code units) a pattern is tested on, the longest string value a document holds. */
export const MAX_SUBJECT_LENGTH = LIMITS.stringValue;

/** Whether the pattern finds a match anywhere in `value` (unanchored); false for a longer value than the limit. */
export function patternFinds(pattern: Pattern, value: string): boolean {
  return value.length <= MAX_SUBJECT_LENGTH && pattern.test(value);
}

export type CompiledPattern =
  | { readonly pattern: Pattern; readonly problem?: undefined }
  | { readonly pattern?: undefined; readonly problem: string };

/**
 * Whether the source holds a backreference (`\1`…`\9`, `\k<name>`) outside an escaped backslash. RE2 runs
 * none; refusing them here gives a clearer message than RE2's, and keeps `\k<name>` (which the syntax
 * translation would read as a literal "k<name>") from silently changing meaning.
 */
function hasBackreference(source: string): boolean {
  for (let i = 0; i < source.length - 1; i++) {
    if (source[i] !== '\\') continue;
    const next = source[i + 1]!;
    if ((next >= '1' && next <= '9') || (next === 'k' && source[i + 2] === '<')) return true;
    i++; // skip the escaped character, so `\\1` is a backslash then "1"
  }
  return false;
}

/** Compiles a `matches` pattern, or says why it is refused. Never throws. */
export function compilePattern(source: string): CompiledPattern {
  if (source.length > LIMITS.regexLength) {
    return {
      problem: `regular expression is ${source.length} characters long; the limit is ${LIMITS.regexLength}`,
    };
  }
  try {
    new RegExp(source);
  } catch (error) {
    return { problem: `regular expression does not compile: ${(error as Error).message}` };
  }
  if (hasBackreference(source)) {
    return {
      problem:
        'regular expression uses a backreference, which the linear-time regex engine (RE2) does not run; rewrite it without one',
    };
  }
  let pattern: Pattern;
  try {
    pattern = RE2JS.compile(RE2JS.translateRegExp(source));
  } catch (error) {
    return {
      problem: `regular expression uses syntax the linear-time regex engine (RE2) does not run, such as lookahead or lookbehind: ${(error as Error).message}`,
    };
  }
  const size = pattern.programSize();
  if (size > MAX_PROGRAM_SIZE) {
    return {
      problem: `regular expression is too large: it compiles to ${size} instructions; the limit is ${MAX_PROGRAM_SIZE} (large counted repetitions like "{500}" cost the most)`,
    };
  }
  return { pattern };
}

/** Why a `matches` pattern is refused, or undefined when it is accepted. */
export function patternProblem(source: string): string | undefined {
  return compilePattern(source).problem;
}
