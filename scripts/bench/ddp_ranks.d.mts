import type { ChildProcess } from 'node:child_process';

export function freePort(): Promise<number>;
export function torchrunEnv(port: number, worldSize: number, rank: number): Record<string, string>;
export function runRank(
  job: object,
  env: Record<string, string>,
  onOutput?: (stdout: string, child: ChildProcess) => void,
): Promise<{ status: number | null; stdout: string; stderr: string }>;
