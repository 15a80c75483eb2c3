import { native } from './native';

export interface BackendInfo {
  /** The CPU kernels in use: chosen once at start from CPUID/XGETBV, or forced by FCNKIT_ISA. */
  isa: 'ref' | 'avx2' | 'avx512';
  /** Why the ISA differs from the best one, when it does (e.g. forced by FCNKIT_ISA). */
  isaNote?: string;
  /** Threads in the core's pool (the CPUs this process may use, or FCNKIT_THREADS). */
  threads: number;
  cuda: { compiled: boolean; available: boolean; reason?: string; devices?: unknown[] };
}

export function backendInfo(): BackendInfo {
  const info = native().backendInfo();
  return { isa: info.isa, ...(info.isaNote ? { isaNote: info.isaNote } : {}), threads: info.threads, cuda: info.cuda };
}
