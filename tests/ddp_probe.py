"""Helper for tests/test_accelerate_configs.py: report the distributed state each rank sees.

    ACCELERATE_USE_CPU=true accelerate launch --config_file accelerate_configs/cpu_ddp.yaml tests/ddp_probe.py
    accelerate launch --config_file accelerate_configs/cpu_ddp.yaml tests/ddp_probe.py --trainer

Default: the state comes from `Accelerator()`, which (like TRL's trainers) reads
ACCELERATE_USE_CPU. With --trainer it comes from `TrainingArguments(use_cpu=True)`, as a stage
run with `--use_cpu true` builds it. Each rank then all-reduces its rank number and prints one line
RANK r WORLD w BACKEND b TYPE t SUM s; s is the sum of all ranks only if the ranks really talk.
"""

import sys
import tempfile

import torch
from accelerate import Accelerator, PartialState

if "--trainer" in sys.argv:
    from transformers import TrainingArguments

    _ = TrainingArguments(
        output_dir=tempfile.mkdtemp(), use_cpu=True, report_to=[]
    ).device  # sets up the state
else:
    Accelerator()
state = PartialState()
total = torch.tensor([float(state.process_index)])
if state.num_processes > 1:
    torch.distributed.all_reduce(total)
print(
    f"RANK {state.process_index} WORLD {state.num_processes} BACKEND {state.backend} "
    f"TYPE {state.distributed_type.value} SUM {total.item():g}",
    flush=True,
)
if torch.distributed.is_initialized():
    # Every rank that joined the gloo group leaves together, also where accelerate sees a world of one (launched
    # without ACCELERATE_USE_CPU, each rank still joins torchrun's group of two): a rank that exits first can
    # make the other's still-connecting init fail ("Connection closed by peer"), as seen once under load.
    torch.distributed.barrier()
    torch.distributed.destroy_process_group()  # as alignpipe.core.errors.run_cli does: no gloo threads at exit
