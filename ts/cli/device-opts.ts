/** `--device cpu|cuda` and `--precision fp32|tf32|bf16`, as segment, run and bench take them. */
import { DEVICES, PRECISIONS, resolveDevice } from '../device';
import type { Device, Precision, ResolvedDevice } from '../device';
import { UsageError, stringOpt } from './args';
import type { OptionSpecs, Parsed } from './args';

export const DEVICE_SPECS: OptionSpecs = {
  device: { type: 'string' },
  precision: { type: 'string' },
};

export const DEVICE_USAGE = `  --device cpu|cuda      where to run (default cpu)
  --precision P          fp32 (default, exact) or bf16 (bfloat16 products, fp32 sums: on the
                         CPU with AVX512-BF16, on cuda with tensor cores); tf32 on cuda only`;

/**
 * The device the command runs on: bad values are usage errors (exit 2); 'cuda' without a usable
 * GPU is CUDA_UNAVAILABLE with the reason. FCNKIT_CUDA_EMULATE=1 (for tests only) runs the CUDA
 * lowering on the CPU emulator.
 */
export function deviceOpt(p: Parsed, command: string): ResolvedDevice {
  const device = stringOpt(p, 'device', command) ?? 'cpu';
  if (!(DEVICES as readonly string[]).includes(device)) {
    throw new UsageError(`option '--device' must be ${DEVICES.join(' or ')} (received '${device}')`, command);
  }
  const precision = stringOpt(p, 'precision', command);
  if (precision !== undefined && !(PRECISIONS as readonly string[]).includes(precision)) {
    throw new UsageError(`option '--precision' must be ${PRECISIONS.join(', ')} (received '${precision}')`, command);
  }
  if (precision === 'tf32' && device === 'cpu') {
    throw new UsageError(`--precision tf32 needs --device cuda (the CPU computes in fp32 or bf16)`, command);
  }
  return resolveDevice({
    device: device as Device,
    precision: precision as Precision | undefined,
    emulate: device === 'cuda' && process.env.FCNKIT_CUDA_EMULATE === '1',
  });
}
