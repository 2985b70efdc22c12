import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';

export interface MachineInfo {
  cpuModel: string;
  cpus: number;
  memoryGiB: number;
  node: string;
  kernel: string;
  openFilesLimit: string;
  ephemeralPorts: string;
}

function readOr(file: string, fallback: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return fallback;
  }
}

export function machineInfo(): MachineInfo {
  const limits = readOr('/proc/self/limits', '');
  const files = /Max open files\s+(\S+)\s+(\S+)/.exec(limits);
  return {
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    cpus: os.cpus().length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    kernel: `${os.type()} ${os.release()}`,
    openFilesLimit: files === null ? 'unknown' : `${files[1]} soft / ${files[2]} hard`,
    ephemeralPorts: readOr('/proc/sys/net/ipv4/ip_local_port_range', 'unknown').trim().replace(/\s+/, '–'),
  };
}

export function shortMachine(m: MachineInfo): string {
  const model = m.cpuModel.replace(/\(R\)|\(TM\)|CPU|Processor|\s+@.*$/g, '').replace(/\s+/g, ' ').trim();
  return `${m.cpus}× ${model}, ${Math.round(m.memoryGiB)} GB, node ${m.node}`;
}

export function gitCommit(cwd: string): { commit: string; dirty: boolean } {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const status = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return { commit, dirty: status.trim() !== '' };
  } catch {
    return { commit: 'none', dirty: true };
  }
}
