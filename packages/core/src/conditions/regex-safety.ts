/**
 * What stops a `matches` pattern from being accepted: too long, not compiling, or at risk of
 * catastrophic backtracking (nested quantifiers, backreferences), since patterns run on user input on
 * every evaluation.
 */
import safeRegex from 'safe-regex2';
import { LIMITS } from '../document/schema.js';

export function regexProblem(pattern: string): string | undefined {
  if (pattern.length > LIMITS.regexLength) {
    return `regular expression is ${pattern.length} characters long; the limit is ${LIMITS.regexLength}`;
  }
  try {
    new RegExp(pattern);
  } catch (error) {
    return `regular expression does not compile: ${(error as Error).message}`;
  }
  if (/\\[1-9]|\\k</.test(pattern)) {
    return 'regular expression uses a backreference, which can take exponential time; rewrite it without one';
  }
  if (!safeRegex(pattern)) {
    return 'regular expression risks catastrophic backtracking (a repeated group that itself repeats, like "(a+)+"); rewrite it';
  }
  return undefined;
}
