"""accelerate_configs/*.yaml load with accelerate's own loader and mean what their comments say;
cpu_ddp.yaml really starts two gloo ranks; scripts/slurm_launch.sh builds a valid launch command."""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from accelerate.commands.config.config_args import ClusterConfig, load_config_from_file
from accelerate.commands.launch import _validate_launch_command, launch_command_parser
from accelerate.utils import (
    DeepSpeedPlugin,
    DistributedType,
    FullyShardedDataParallelPlugin,
    patch_environment,
)
from accelerate.utils.launch import prepare_deepspeed_cmd_env, prepare_multi_gpu_env

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "accelerate_configs"
PROBE = ROOT / "tests" / "ddp_probe.py"

EXPECTED = {
    # file: (distributed_type, num_processes, num_machines, mixed_precision)
    "cpu_ddp.yaml": (DistributedType.MULTI_GPU, 2, 1, "no"),
    "single_gpu.yaml": (DistributedType.NO, 1, 1, "bf16"),
    "multi_gpu.yaml": (DistributedType.MULTI_GPU, 8, 1, "bf16"),
    "fsdp2.yaml": (DistributedType.FSDP, 8, 1, "bf16"),
    "zero2.yaml": (DistributedType.DEEPSPEED, 8, 1, "bf16"),
    "zero3.yaml": (DistributedType.DEEPSPEED, 8, 1, "bf16"),
    "multi_node.yaml": (DistributedType.MULTI_GPU, 16, 2, "bf16"),
}


def test_every_config_is_covered():
    assert sorted(p.name for p in CONFIGS.glob("*.yaml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_config_loads_with_accelerate(name):
    path = CONFIGS / name
    config = load_config_from_file(str(path))  # raises on keys this accelerate does not know
    assert isinstance(config, ClusterConfig)
    distributed_type, num_processes, num_machines, mixed_precision = EXPECTED[name]
    assert config.distributed_type == distributed_type
    assert config.num_processes == num_processes
    assert config.num_machines == num_machines
    assert str(config.mixed_precision) == mixed_precision
    header = path.read_text().split("compute_environment:")[0]
    assert "When to use" in header and "Model size" in header  # each file says when to use it, for what sizes


def _launch_args(name: str, *extra: str):
    args = launch_command_parser().parse_args(["--config_file", str(CONFIGS / name), *extra, "train.py"])
    args, defaults, _ = _validate_launch_command(args)
    return args, defaults


def test_fsdp2_settings_reach_the_plugin():
    """Nested fsdp_config keys are not checked by the loader: build the plugin the launcher would."""
    args, _ = _launch_args("fsdp2.yaml")
    env = {k: v for k, v in prepare_multi_gpu_env(args).items() if k.startswith(("FSDP_", "ACCELERATE_"))}
    with patch_environment(**env):
        plugin = FullyShardedDataParallelPlugin()
    assert plugin.fsdp_version == 2
    assert plugin.state_dict_type.name == "FULL_STATE_DICT"
    assert plugin.auto_wrap_policy.__name__ == "transformer_auto_wrap_policy"
    assert plugin.transformer_cls_names_to_wrap is None  # so the model's _no_split_modules decide
    assert plugin.cpu_ram_efficient_loading and plugin.reshard_after_forward
    assert env["ACCELERATE_MIXED_PRECISION"] == "bf16"


@pytest.mark.parametrize("name, stage", [("zero2.yaml", 2), ("zero3.yaml", 3)])
def test_deepspeed_settings_reach_the_plugin(name, stage):
    args, defaults = _launch_args(name)
    args.deepspeed_fields_from_accelerate_config = ",".join(defaults.deepspeed_config)
    _, env = prepare_deepspeed_cmd_env(args)
    with patch_environment(**{k: v for k, v in env.items() if k.startswith("ACCELERATE_")}):
        ds = DeepSpeedPlugin().deepspeed_config
    assert ds["zero_optimization"]["stage"] == stage
    # left to the recipe's TrainingArguments, so config and recipe cannot disagree
    assert ds["gradient_accumulation_steps"] == "auto" and ds["gradient_clipping"] == "auto"
    if stage == 3:
        assert ds["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"] is True


def test_multi_node_placeholders_are_overridden_by_the_command_line():
    args, _ = _launch_args("multi_node.yaml")
    assert args.main_process_ip == "HEAD_NODE_IP"  # a placeholder no resolver accepts
    args, _ = _launch_args("multi_node.yaml", "--machine_rank", "1", "--main_process_ip", "10.0.0.1")
    prepare_multi_gpu_env(args)
    # torchrun's static rendezvous on the head node's address, 8 processes on this node (16 over 2)
    assert (args.nnodes, args.node_rank, args.nproc_per_node) == ("2", 1, "8")
    assert (args.rdzv_backend, args.rdzv_endpoint) == ("static", "10.0.0.1:29500")


# ---------------------------------------------------------------------------------------------
# Real launches of tests/ddp_probe.py, started together (each takes ~10-20 s on a small CPU box).

LAUNCHES = {
    # the documented recipe: cpu_ddp.yaml + ACCELERATE_USE_CPU=true
    "cpu_ddp": (["--config_file", str(CONFIGS / "cpu_ddp.yaml")], {"ACCELERATE_USE_CPU": "true"}),
    # pitfall 1: `--cpu --num_processes 2` starts a single process
    "cpu_flag": (["--cpu", "--num_processes", "2"], {"ACCELERATE_USE_CPU": "true"}),
    # pitfall 2: cpu_ddp.yaml without asking for the CPU: two processes, each a world of one
    "no_cpu_env": (["--config_file", str(CONFIGS / "cpu_ddp.yaml")], {"ACCELERATE_USE_CPU": ""}),
}


@pytest.fixture(scope="module")
def launches(tmp_path_factory):
    home = tmp_path_factory.mktemp("hf_home")  # no default accelerate config from the user's cache
    procs = {}
    for key, (launch_args, extra_env) in LAUNCHES.items():
        env = {
            **os.environ,
            "HF_HOME": str(home),
            "OMP_NUM_THREADS": "1",
            "CUDA_VISIBLE_DEVICES": "",
            **extra_env,
        }
        if not env["ACCELERATE_USE_CPU"]:
            del env["ACCELERATE_USE_CPU"]
        cmd = [sys.executable, "-m", "accelerate.commands.accelerate_cli", "launch", *launch_args, str(PROBE)]
        procs[key] = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
    results = {}
    for key, proc in procs.items():
        out, _ = proc.communicate(timeout=240)
        lines = re.findall(r"RANK (\d+) WORLD (\d+) BACKEND (\S+) TYPE ([A-Z_]+) SUM (\d+)", out)
        results[key] = (proc.returncode, sorted(lines), out)
    return results


def test_cpu_ddp_runs_two_gloo_ranks(launches):
    code, lines, out = launches["cpu_ddp"]
    assert code == 0, out
    # both ranks, world size 2, gloo, and the all-reduce of ranks 0 + 1 gave 1 on each
    assert lines == [("0", "2", "gloo", "MULTI_CPU", "1"), ("1", "2", "gloo", "MULTI_CPU", "1")], out


def test_cpu_flag_runs_one_process(launches):
    code, lines, out = launches["cpu_flag"]
    assert code == 0, out
    assert lines == [("0", "1", "None", "NO", "0")], out


def test_cpu_ddp_without_use_cpu_is_two_separate_worlds(launches):
    code, lines, out = launches["no_cpu_env"]
    assert code == 0, out
    assert lines == [("0", "1", "None", "NO", "0")] * 2, out


# ---------------------------------------------------------------------------------------------


def test_slurm_script_builds_a_valid_launch(tmp_path):
    (tmp_path / "pipeline" / "stages").mkdir(parents=True)
    (tmp_path / "pipeline" / "stages" / "sft.py").touch()
    (tmp_path / "my recipe.yaml").touch()
    env = {
        **os.environ,
        "SLURM_SUBMIT_DIR": str(tmp_path),
        "SLURM_NNODES": "4",
        "SLURM_GPUS_ON_NODE": "4",
        "HEAD_NODE_IP": "10.1.2.3",
        "DRY_RUN": "1",
    }
    script = ROOT / "scripts" / "slurm_launch.sh"
    result = subprocess.run(
        ["bash", str(script), "sft", "my recipe.yaml", "--run_name", "a b"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    command = result.stdout.split("exec ", 1)[1].replace("\\\n", " ").replace("$SLURM_NODEID", "3")
    words = shlex.split(command)
    assert words[:2] == ["accelerate", "launch"]
    args = launch_command_parser().parse_args(words[2:])  # every flag is one accelerate knows
    assert args.config_file == "accelerate_configs/multi_node.yaml"
    assert (args.num_machines, args.num_processes, args.machine_rank) == (4, 16, 3)
    assert (args.main_process_ip, args.main_process_port) == ("10.1.2.3", 29500)
    assert args.training_script == "pipeline/stages/sft.py"
    assert args.training_script_args == ["--config", "my recipe.yaml", "--run_name", "a b"]

    missing = subprocess.run(
        ["bash", str(script), "dpo", "my recipe.yaml"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert missing.returncode == 2 and "pipeline/stages/dpo.py" in missing.stderr
