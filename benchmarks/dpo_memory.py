"""DPO memory and time, side by side in one run on this machine.

    python -m benchmarks.dpo_memory [--quick]

1. Peak memory of LoRA-DPO (the reference is the base with the adapter disabled: no second copy) vs full
   DPO with a separate reference model, same base. The base is a ~100M-parameter MiniGPT so that weights,
   gradients and optimizer states dominate; each configuration runs in its own process and reports its
   peak resident memory (ru_maxrss), which is what an out-of-memory kill looks at. Target ratio <= 0.6.
2. DPO epoch time with `precompute_ref_log_probs` (reference log-probs computed once, reference model
   dropped) vs without, on a small MiniGPT.
Results go to benchmarks/results/dpo_memory.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

from benchmarks import save_result

RUNNER = (
    "import resource, runpy, sys\n"
    "sys.argv = ['alignpipe.stages.dpo', *sys.argv[1:]]\n"
    "try:\n"
    "    runpy.run_module('alignpipe.stages.dpo', run_name='__main__')\n"
    "except SystemExit as e:\n"
    "    assert not e.code, e.code\n"
    "print('PEAK_RSS_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
)
COMMON = [
    "--dataset_name",
    "default",
    "--report_to",
    "none",
    "--save_strategy",
    "no",
    "--eval_strategy",
    "no",
    "--activation_checkpointing",
    "false",
    "--max_length",
    "64",
    "--logging_steps",
    "1",
    "--beta",
    "0.1",
    "--disable_tqdm",
    "true",
    "--max_eval_samples",
    "1",
]


def make_base(out: Path, d_model: int, n_layers: int) -> Path:
    import torch

    from alignpipe.core.tokenizers import train_tokenizer
    from alignpipe.defaults import load_default
    from alignpipe.inference.modeling import align_with_tokenizer
    from alignpipe.models.minigpt import MiniGPTConfig, MiniGPTForCausalLM

    texts = load_default("sft", "train", n=2000)["messages"]
    tok = train_tokenizer([m["content"] for conv in texts for m in conv], "bpe", 2048)
    torch.manual_seed(0)
    model = MiniGPTForCausalLM(
        MiniGPTConfig(
            vocab_size=len(tok), d_model=d_model, n_layers=n_layers, n_heads=d_model // 64, max_seq=128
        )
    )
    align_with_tokenizer(model, tok)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def run_dpo(base: Path, out: Path, *extra: str) -> dict:
    args = [
        sys.executable,
        "-c",
        RUNNER,
        "--model_name_or_path",
        str(base),
        "--output_dir",
        str(out),
        *COMMON,
        *extra,
    ]
    p = subprocess.run(args, capture_output=True, text=True, check=False)
    if p.returncode:
        raise RuntimeError(p.stderr[-3000:])
    peak_kb = int(next(line.split()[1] for line in p.stdout.splitlines() if line.startswith("PEAK_RSS_KB")))
    record = json.loads((out / "run_record.json").read_text())
    return {"peak_rss_mb": peak_kb / 1024, "train_runtime_s": record["metrics"].get("train_runtime")}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    big = (256, 2) if args.quick else (768, 12)  # ~85M non-embedding parameters at full size
    res: dict = {"date": date.today().isoformat()}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        base = make_base(tmp / "big", *big)
        steps = ["--max_steps", "2", "--per_device_train_batch_size", "2"]
        full = run_dpo(base, tmp / "full", *steps)
        lora = run_dpo(
            base,
            tmp / "lora",
            *steps,
            "--use_peft",
            "true",
            "--lora_r",
            "16",
            "--lora_target_modules",
            "c_attn",
            "c_proj",
            "c_fc",
        )
        res["memory"] = {
            "base": f"MiniGPT d_model={big[0]} n_layers={big[1]}",
            "full_dpo_with_ref": full,
            "lora_dpo_no_ref": lora,
            "ratio": lora["peak_rss_mb"] / full["peak_rss_mb"],
        }

        small = make_base(tmp / "small", 128, 2)
        epoch = [
            "--num_train_epochs",
            "1",
            "--max_train_samples",
            "128" if args.quick else "1024",
            "--per_device_train_batch_size",
            "16",
            "--precompute_ref_batch_size",
            "64",
        ]
        plain = run_dpo(small, tmp / "plain", *epoch)
        pre = run_dpo(small, tmp / "pre", *epoch, "--precompute_ref_log_probs", "true")
        res["precompute"] = {
            "without": plain,
            "with": pre,
            "time_ratio": pre["train_runtime_s"] / plain["train_runtime_s"],
        }
    print(json.dumps(res, indent=2))
    if not args.quick:
        save_result(res, "dpo_memory")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
