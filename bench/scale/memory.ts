/** Resident memory of the scale benchmark's child process, read the same way for every engine. */
import { readFileSync, writeFileSync } from 'node:fs';

/** Two full collections (the second frees what the first's finalizers released). */
export function collectGarbage(): void {
  if (!globalThis.gc) throw new Error('the scale benchmark needs node --expose-gc');
  globalThis.gc();
  globalThis.gc();
}

export function residentBytes(): number {
  return process.memoryUsage().rss;
}

/** Live JavaScript heap plus memory held outside it (buffers): what the engine's data occupies. */
export function heapBytes(): number {
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.external;
}

/**
 * Resets the kernel's peak-RSS mark (Linux: `5` to /proc/self/clear_refs), so that the peak read
 * later covers only what follows. Returns false where that is not possible.
 */
export function resetPeakResident(): boolean {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}

/** The peak RSS since the last reset (VmHWM), or over the process's lifetime where there is none. */
export function peakResidentBytes(): number {
  try {
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (match) return Number(match[1]) * 1024;
  } catch {
    // not Linux: fall through
  }
  return process.resourceUsage().maxRSS * 1024;
}
