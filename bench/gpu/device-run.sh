#!/usr/bin/env bash
# The whole GPU check in one device run (issue: the CUDA backend on a real GPU): what the machine
# is, backendInfo(), every GPU test (node:test, no node_modules), then the comparison with
# PyTorch + cuDNN. Logs go to $OUT (at most 8 files come back). Prepared here with
#   npm run build && ../shared/tools/gpu-pack.sh
# and run with the device tool: carry [".gpu", "build/Release/fcnkit.node",
# "build/Release/libfcnkit_cuda.so", "dist"], command "bash bench/gpu/device-run.sh".
# BUDGET_S bounds the whole script (default 480 s): the tests get at most half, the bench the rest.
set -o pipefail
cd "$(dirname "$0")/../.."
source .gpu/setup.sh
out=${OUT:-/tmp/fcnkit-gpu-out}
mkdir -p "$out"
budget=${BUDGET_S:-480}
t0=$SECONDS
{ nvidia-smi; nvcc --version 2>/dev/null; python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version())'; } > "$out/machine.txt" 2>&1
node -e "console.log(JSON.stringify(require('./dist').backendInfo(), null, 1))" > "$out/backend-info.json" 2>&1
echo "backendInfo: $(tr -d '\n' < "$out/backend-info.json" | head -c 600)"
timeout $((budget / 2)) node --test --test-concurrency=1 --test-reporter=spec test/gpu/ > "$out/gpu-tests.log" 2>&1
echo "gpu tests rc=$? after $((SECONDS - t0)) s"
grep -aE '(tests|pass|fail|skipped|cancelled) [0-9]+$' "$out/gpu-tests.log"
grep -E '✖|not ok' "$out/gpu-tests.log" | head -30
left=$((budget - (SECONDS - t0) - 10))
if ((left > 60)); then
  timeout "$left" node bench/gpu/compare.js --out "$out" --runs 5 --precisions fp32,tf32,bf16 > "$out/bench.log" 2>&1
  echo "bench rc=$? after $((SECONDS - t0)) s"
  tail -40 "$out/bench.log"
else
  echo "bench skipped: ${left}s left"
fi
