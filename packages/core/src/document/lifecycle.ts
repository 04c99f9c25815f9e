/**
 * Pure transforms of an environment state for the pause and resume workflow. While paused, scheduled
 * steps stop advancing; on resume, the steps still ahead move later by the time spent paused, so a ramp
 * continues where it stopped instead of jumping ahead.
 */
import type { EnvironmentState } from './schema.js';

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
