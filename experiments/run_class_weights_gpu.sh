#!/bin/bash
# The class-weights comparison of run_class_weights.py (CamVid, cpu schedule: UNet full supervision and ScribbleSup,
# each with and without median-frequency weights, seeds 0-2) as 12 concurrent runs on one GPU machine (16 cores).
# Same configs and run names as run_class_weights.py, plus train.device=cuda and train.amp=false (fp32 like the CPU
# rows; cuDNN's default TF32 convolutions stay on), so the table it ends with is run_class_weights.py --table-only's.
#
#     bash experiments/run_class_weights_gpu.sh [OUTPUT_ROOT]     # run folders under OUTPUT_ROOT (default runs_gpu)
#
# Label inference and the superpixel cache run on the CPU (pipeline.workers=2 per ScribbleSup run; the cache is
# filled once first with every core). Checked end to end on the CPU only (DEVICE=cpu EXTRA='data.limit=4
# train.steps=4 pipeline.finetune_steps=2'); its one GPU attempt (2026-11-26, H100 machine) ran past the device's
# 10-minute limit and returned nothing (experiments/README.md).
set -u
root=${1:-runs_gpu}
export OMP_NUM_THREADS=1 SCRIBBLESUP_RESULTS=${SCRIBBLESUP_RESULTS:-$root/results}
mkdir -p "$root/logs" "$SCRIBBLESUP_RESULTS"
ss=experiments/configs/scribblesup_camvid_cpu.yaml
full=experiments/configs/unet_full_camvid_cpu.yaml
common=(train.device=${DEVICE:-cuda} train.amp=false output.root=$root ${EXTRA:-})  # EXTRA: more KEY=VALUE (quick checks)
t0=$(date +%s)
python -c "
import os
from scribblesup.config import load_config
from scribblesup.datasets import open_split
from scribblesup.pipeline import region_graph_cache
c = load_config('$ss', ['output.root=$root', *'${EXTRA:-}'.split()])
region_graph_cache(c).fill(open_split(c.data, c.data.train_split), os.cpu_count(), False)
" || exit 2
echo "cache filled in $(( $(date +%s) - t0 )) s"
for seed in 0 1 2; do
  for w in none median_frequency; do
    # the configs weight by default: _none marks the unweighted runs
    suffix=$([ $w = median_frequency ] || echo _$w)$([ $seed = 0 ] || echo _seed$seed)
    scribblesup run --config $ss --set "${common[@]}" train.seed=$seed train.class_weights=$w pipeline.workers=2 \
      name=scribblesup_camvid_cpu$suffix > "$root/logs/ss$suffix.log" 2>&1 &
    scribblesup train --config $full --set "${common[@]}" train.seed=$seed train.class_weights=$w \
      name=unet_full_camvid_cpu$suffix > "$root/logs/full$suffix.log" 2>&1 &
  done
done
wait
echo "runs done in $(( $(date +%s) - t0 )) s"
