#!/bin/bash
# Multi-node training with SLURM: one `accelerate launch` per node, started by srun.
#
#   sbatch --nodes=2 scripts/slurm_launch.sh sft recipes/my_sft.yaml [extra stage args...]
#
# Every node runs the same command; SLURM tells each one its rank ($SLURM_NODEID) and the job's
# node count ($SLURM_NNODES); the first node of the allocation is the rendezvous host. Environment
# knobs (export before sbatch, or edit the defaults below):
#   GPUS_PER_NODE      GPUs (= processes) per node; default: $SLURM_GPUS_ON_NODE, else 8
#   ACCELERATE_CONFIG  default accelerate_configs/multi_node.yaml (DDP); for sharded training use a
#                      copy with fsdp2.yaml's or zero3.yaml's settings
#   MAIN_PROCESS_PORT  default 29500; any port open between the nodes
#   HEAD_NODE_IP       default: the address of the allocation's first node
#   VENV               default .venv (activated on each node if present)
#   DRY_RUN=1          print the per-node command instead of running srun (checks the arguments)
#
# ONE task per node: accelerate launch starts that node's per-GPU processes itself. The log goes
# to the submit directory (SLURM opens it before the script runs, so its folder must exist).
#SBATCH --job-name=alignpipe
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=1
#SBATCH --gres=gpu:8
#SBATCH --cpus-per-task=96
#SBATCH --time=24:00:00
#SBATCH --output=%x-%j.out
#SBATCH --exclusive

set -euo pipefail

STAGE=${1:?usage: sbatch scripts/slurm_launch.sh STAGE RECIPE [args...]  (STAGE: pretrain, sft, reward, dpo, ppo)}
RECIPE=${2:?usage: sbatch scripts/slurm_launch.sh STAGE RECIPE [args...]}
shift 2

# sbatch runs a copy of this script from a spool directory; SLURM_SUBMIT_DIR is where sbatch was called
cd "${SLURM_SUBMIT_DIR:-$(pwd)}"
[[ -f "pipeline/stages/$STAGE.py" ]] || { echo "no stage script pipeline/stages/$STAGE.py" >&2; exit 2; }
[[ -f "$RECIPE" ]] || { echo "no recipe $RECIPE" >&2; exit 2; }

GPUS_PER_NODE=${GPUS_PER_NODE:-${SLURM_GPUS_ON_NODE:-8}}
ACCELERATE_CONFIG=${ACCELERATE_CONFIG:-accelerate_configs/multi_node.yaml}
MAIN_PROCESS_PORT=${MAIN_PROCESS_PORT:-29500}
VENV=${VENV:-.venv}
NNODES=${SLURM_NNODES:?not inside a SLURM allocation (run with sbatch)}

# The first host of the allocation hosts the rendezvous; use its IP so every node resolves it alike
# (HEAD_NODE_IP overrides, e.g. to pick the InfiniBand interface's address).
if [[ -n "${HEAD_NODE_IP:-}" ]]; then
  head_node_ip=$HEAD_NODE_IP
else
  head_node=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
  head_node_ip=$(srun --nodes=1 --ntasks=1 -w "$head_node" hostname --ip-address | awk '{print $1}')
fi

export OMP_NUM_THREADS=${OMP_NUM_THREADS:-8}

# Single quotes: $SLURM_NODEID must be expanded on each node by the srun task, not here.
# printf %q keeps paths and extra stage arguments with spaces intact.
q() { printf '%q' "$1"; }
extra=""
if (($#)); then extra=$(printf ' %q' "$@"); fi
CMD='[[ -f '"$(q "$VENV")"'/bin/activate ]] && source '"$(q "$VENV")"'/bin/activate; exec accelerate launch \
  --config_file '"$(q "$ACCELERATE_CONFIG")"' \
  --num_machines '"$NNODES"' \
  --num_processes '"$((NNODES * GPUS_PER_NODE))"' \
  --machine_rank $SLURM_NODEID \
  --main_process_ip '"$head_node_ip"' \
  --main_process_port '"$MAIN_PROCESS_PORT"' \
  --rdzv_backend static \
  pipeline/stages/'"$(q "$STAGE")"'.py --config '"$(q "$RECIPE")$extra"

echo "rendezvous at $head_node_ip:$MAIN_PROCESS_PORT, $NNODES nodes x $GPUS_PER_NODE GPUs"
if [[ "${DRY_RUN:-0}" == 1 ]]; then
  echo "$CMD"
  exit 0
fi
# --kill-on-bad-exit: if one node's launcher fails, stop the others instead of leaving them waiting
srun --kill-on-bad-exit=1 --ntasks-per-node=1 bash -c "$CMD"
