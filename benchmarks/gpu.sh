#!/usr/bin/env bash
# The GPU checks and timings in one go, for a machine with a CUDA GPU: the CUDA cases of the
# tests, the VAE loop at batch 128 eager and compiled (target: under 0.15 s per epoch on an
# H200), and NAS children per minute on one GPU (target: at least 100 on an H200).
#
#   benchmarks/gpu.sh [OUT_DIR]        # JSON and logs to OUT_DIR (default: benchmarks/results)
#
# Needs python3 with torch (CUDA) and rlgen's dependencies importable, and Fashion-MNIST's IDX
# files where rlgen.data finds them ($RLGEN_DATA, say). Each step has its own time limit, so a
# slow one cannot starve the others; the whole script takes about 8 minutes on an H200.
set -uo pipefail
out=${1:-benchmarks/results}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}"
python3 -c "import torch; assert torch.cuda.is_available(), 'no CUDA GPU'; \
print(torch.__version__, torch.cuda.get_device_name())" || exit 1

echo "== tests on CUDA (the device-parametrised ones, and --compile)"
timeout 150 python3 -m pytest -q -x -p no:cacheprovider tests/test_training.py \
  tests/generative -k "cuda or compile or device" 2>&1 | tee "$out/gpu_tests.log" | tail -5

echo "== VAE loop at batch 128: eager and compiled"
timeout 240 python3 benchmarks/vae.py --parts loop --device cuda --repeats 2 \
  --out "$out/vae_gpu.json" 2>&1 | tee "$out/vae_gpu.log" | grep -v Warning

echo "== NAS children per minute on one GPU"
timeout 240 python3 benchmarks/nas.py --parts gpu-throughput --gpu-trials 32 \
  --out "$out/nas_gpu.json" 2>&1 | tee "$out/nas_gpu.log" | grep -v Warning
