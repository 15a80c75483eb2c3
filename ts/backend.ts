import { native } from './native';

export interface BackendInfo {
  /** The CPU kernels in use: chosen once at start from CPUID/XGETBV, or forced by FCNKIT_ISA. */
  isa: 'ref' | 'avx2' | 'avx512';
  /** Why the ISA differs from the best one, when it does (e.g. forced by FCNKIT_ISA). */
  isaNote?: string;
  /** Threads in the core's pool (the CPUs this process may use, or FCNKIT_THREADS). */
  threads: number;
  cuda: { compiled: boolean; available: boolean; reason?: string; devices?: unknown[] };
  /**
   * precision 'bf16' on the CPU: `available` where the CPU has AVX512-BF16 and the avx512 ISA is
   * active, else `reason` names what is missing; `avx512Bf16` / `amxBf16`: the CPU's features.
   */
  bf16: { available: boolean; reason?: string; avx512Bf16: boolean; amxBf16: boolean };
}

export function backendInfo(): BackendInfo {
  const info = native().backendInfo();
  return { isa: info.isa, ...(info.isaNote ? { isaNote: info.isaNote } : {}), threads: info.threads, cuda: info.cuda, bf16: info.bf16 };
}
