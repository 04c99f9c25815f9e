/** A description of the machine and runtime a benchmark ran on, printed and saved with its results. */
import os from 'node:os';

export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryGiB: number;
  platform: string;
  node: string;
  date: string;
}

export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    node: process.version,
    date: new Date().toISOString(),
  };
}

export function describeMachine(info: MachineInfo): string {
  return [
    `CPU:  ${info.cpu} × ${info.cores}, ${info.memoryGiB} GiB`,
    `OS:   ${info.platform}`,
    `Node: ${info.node}`,
    `Date: ${info.date}`,
  ].join('\n');
}
