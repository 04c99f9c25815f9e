/**
 * Pure transforms of an environment state for the pause and resume workflow. While paused, scheduled
 * steps stop advancing; on resume, the steps still ahead move later by the time spent paused, so a ramp
 * continues where it stopped instead of jumping ahead.
 */
import { parseInstant } from '../conditions/instant.js';
import type { EnvironmentState, ScheduledStep } from './schema.js';

export function pauseState(state: EnvironmentState, now: number): EnvironmentState {
  if (state.paused === true) return state;
  return { ...state, paused: true, pausedAt: new Date(now).toISOString() };
}

export function resumeState(state: EnvironmentState, now: number): EnvironmentState {
  if (state.paused !== true) return state;
  const { paused: _paused, pausedAt, ...rest } = state;
  const since = pausedAt === undefined ? now : Date.parse(pausedAt);
  const shift = Math.max(0, now - since);
  if (rest.schedule === undefined || shift === 0) return rest;
  return {
    ...rest,
    schedule: rest.schedule.map((step) => {
      const at = Date.parse(step.at);
      return at > since ? { ...step, at: new Date(at + shift).toISOString() } : step;
    }),
  };
}

/**
 * A state's schedule as evaluation reads it: the steps in time order (listed order breaks ties), and the
 * instant after which no step applies — `pausedAt` while paused (no step at all when paused without it),
 * +Infinity otherwise.
 */
export function scheduleOf(state: EnvironmentState): { steps: ScheduledStep[]; limit: number } {
  const steps = [...(state.schedule ?? [])].sort(
    (a, b) => (parseInstant(a.at) ?? 0) - (parseInstant(b.at) ?? 0),
  );
  const limit = state.paused === true ? (parseInstant(state.pausedAt) ?? -Infinity) : Infinity;
  return { steps, limit };
}

/** The state in force at `at` (epoch ms): every scheduled step then in force applied, in order. */
export function stateAt(state: EnvironmentState, at: number): EnvironmentState {
  const { steps, limit } = scheduleOf(state);
  const until = Math.min(at, limit);
  let current = state;
  for (const step of steps) {
    if ((parseInstant(step.at) ?? Infinity) <= until) current = { ...current, ...step.set };
  }
  return current;
}
