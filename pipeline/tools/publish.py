"""`alignpipe publish`: put a stage's model on the Hugging Face Hub, loadable with plain Transformers.

    alignpipe publish RUN_DIR/STAGE --repo-id ORG/NAME [--private] [--merge-lora] [--base-model ID]
                      [--license apache-2.0] [--dry-run OUT_DIR]

What is uploaded (exactly the folder `--dry-run OUT_DIR` writes, and nothing is uploaded then):
- the weights as safetensors, config.json and generation_config.json. A MiniGPT is exported
  (`alignpipe.models.export`, logits checked against the original) to GPT-2 when its positions are
  learned and to GPT-NeoX when they are rotary, so a causal LM loads with `AutoModelForCausalLM`
  (`GPT2LMHeadModel` / `GPTNeoXForCausalLM`) and no remote code, and a reward model with
  `AutoModelForSequenceClassification` (`...ForSequenceClassification`); other architectures are
  copied as they are;
- the tokenizer with its chat template (re-saved from the stage folder);
- README.md, the model card (`alignpipe.tools.cards`): metadata (base_model, datasets, library_name,
  license, tags, pipeline_tag, model-index with the results of RUN_DIR/eval/STAGE/eval.json) and a
  body with the stages, the recipe, the evaluation and the verbosity figures;
- for a LoRA stage: the adapter (adapter_config.json + adapter_model.safetensors, library_name
  peft) whose base must be a Hub model: `--base-model ID` names it when the adapter was trained on a
  local folder (adapter_config.json is rewritten to point at it); or, with `--merge-lora`, the merged
  model (exported to GPT-2 or GPT-NeoX if it is a MiniGPT).
Never uploaded: checkpoints, optimizer states, training_args.bin (a pickle), logs, run records.
A stage recipe's `push_to_hub: true` uploads this same folder (`upload`) once the stage has finished.

The token comes from HF_TOKEN or the Hugging Face login (`huggingface_hub.get_token`) and is only
handed to HfApi's `create_repo` / `upload_folder`; it is never written (the folder is checked for
it before anything is uploaded). Without a token, only `--dry-run` works.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from huggingface_hub import HfApi, get_token
from huggingface_hub.errors import HFValidationError
from huggingface_hub.utils import validate_repo_id

from alignpipe.core.errors import AlignpipeError
from alignpipe.core.io import is_secret_key, output_dir, read_yaml, replacing_dir
from alignpipe.core.log import echo
from alignpipe.core.outputs import check_tokenizer_saved

ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")
MODEL_FILES = ("config.json", "generation_config.json", "model.safetensors.index.json")


@dataclass
class Built:
    """What `build` wrote: enough for the card and for the user's summary line."""

    folder: Path
    stage: str
    kind: str  # "model", "merged adapter" or "adapter"
    architecture: str
    pipeline_tag: str
    library_name: str = "transformers"
    adapter_base: str | None = None


def _stage_name(stage_dir: Path) -> str:
    from alignpipe.core.runrecord import read_record

    rec = read_record(stage_dir)
    return (rec or {}).get("stage") or stage_dir.name


def _copy_model_files(src: Path, out: Path) -> None:
    weights = sorted(src.glob("*.safetensors"))
    if not weights:
        raise AlignpipeError(f"{src} has no safetensors weights (config.json without *.safetensors)")
    for p in [*weights, *(src / n for n in MODEL_FILES)]:
        if p.is_file():
            shutil.copy(p, out / p.name)


def _full_model(src: Path, out: Path) -> tuple[str, str]:
    """Weights + config of a full model into `out`; (architecture, pipeline_tag)."""
    from transformers import AutoConfig

    import alignpipe  # noqa: F401  (registers MiniGPT with the Auto classes)

    try:
        config = AutoConfig.from_pretrained(src)
    except (OSError, ValueError) as e:
        raise AlignpipeError(f"cannot read the model config in {src}: {e}") from e
    arch = (config.architectures or [type(config).__name__])[0]
    tag = "text-classification" if arch.endswith("ForSequenceClassification") else "text-generation"
    if config.model_type == "minigpt":
        from alignpipe.models.export import export

        export(str(src), str(out))
        return AutoConfig.from_pretrained(out).architectures[0], tag
    _copy_model_files(src, out)
    return arch, tag


def _tokenizer(src: Path, out: Path) -> None:
    from transformers import AutoTokenizer

    check_tokenizer_saved(src, "publish")
    try:
        tok = AutoTokenizer.from_pretrained(src)
    except (OSError, ValueError) as e:
        raise AlignpipeError(f"cannot load the tokenizer saved in {src}: {e}") from e
    if not tok.chat_template:
        echo(f"note: the tokenizer in {src} has no chat template; publishing it without one")
    tok.save_pretrained(out)


def _generation_config(out: Path) -> None:
    """generation_config.json with the tokenizer's eos/pad/bos where the model's config lacks them."""
    from transformers import AutoConfig, AutoTokenizer, GenerationConfig

    path = out / "generation_config.json"
    gen = (
        GenerationConfig.from_pretrained(out)
        if path.is_file()
        else GenerationConfig.from_model_config(AutoConfig.from_pretrained(out))
    )
    tok = AutoTokenizer.from_pretrained(out)
    for name in ("eos_token_id", "pad_token_id", "bos_token_id"):
        if getattr(gen, name, None) is None and getattr(tok, name, None) is not None:
            setattr(gen, name, getattr(tok, name))
    gen.save_pretrained(out)


def _adapter(src: Path, out: Path, base_model: str | None) -> str:
    """Copy a LoRA adapter whose base is (or is named as) a Hub model; returns that base id."""
    from alignpipe.tools.cards import is_hub_id

    cfg = json.loads((src / "adapter_config.json").read_text())
    base = cfg.get("base_model_name_or_path")
    if base and Path(base).is_dir():
        base_type = (
            json.loads((Path(base) / "config.json").read_text()).get("model_type")
            if (Path(base) / "config.json").is_file()
            else None
        )
        if base_type == "minigpt":
            raise AlignpipeError(
                f"the adapter in {src} is on a MiniGPT base, which loads only with alignpipe "
                "installed; publish it merged (--merge-lora), which exports it to GPT-2 or GPT-NeoX"
            )
        if not base_model:
            raise AlignpipeError(
                f"the adapter's base is a local folder ({base}); publish the base first and name "
                "it with --base-model ORG/NAME, or publish the merged model with --merge-lora"
            )
    base = base_model or base
    if not is_hub_id(base):
        raise AlignpipeError(
            f"the adapter's base {base!r} is not a Hub model id; name it with --base-model ORG/NAME"
        )
    if not (src / "adapter_model.safetensors").is_file():
        raise AlignpipeError(f"{src} has no adapter_model.safetensors")
    shutil.copy(src / "adapter_model.safetensors", out / "adapter_model.safetensors")
    cfg["base_model_name_or_path"] = base
    (out / "adapter_config.json").write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
    return base


def build(
    stage_dir: str | Path, out: str | Path, *, merge_lora: bool = False, base_model: str | None = None
) -> Built:
    """Write the files to upload for `stage_dir` into `out` (without the card)."""
    src, out = Path(stage_dir), Path(out)
    if not src.is_dir():
        raise AlignpipeError(f"{src} is not a folder (expected RUN_DIR/STAGE)")
    is_adapter = (src / "adapter_config.json").is_file()
    if not is_adapter and not (src / "config.json").is_file():
        raise AlignpipeError(
            f"{src} holds no model (no config.json or adapter_config.json); did the stage finish?"
        )
    out.mkdir(parents=True, exist_ok=True)
    stage = _stage_name(src)
    if is_adapter and merge_lora:
        from alignpipe.tools.merge import merge

        with tempfile.TemporaryDirectory() as tmp:
            merge(str(src), tmp)
            arch, tag = _full_model(Path(tmp), out)
        _tokenizer(src, out)
        _generation_config(out)
        return Built(out, stage, "merged adapter", arch, tag)
    if is_adapter:
        base = _adapter(src, out, base_model)
        _tokenizer(src, out)
        task = json.loads((src / "adapter_config.json").read_text()).get("task_type")
        tag = "text-classification" if task == "SEQ_CLS" else "text-generation"
        return Built(out, stage, "adapter", f"LoRA adapter for {base}", tag, "peft", base)
    if merge_lora:
        raise AlignpipeError(f"--merge-lora: {src} is not a LoRA adapter (no adapter_config.json)")
    arch, tag = _full_model(src, out)
    _tokenizer(src, out)
    _generation_config(out)
    return Built(out, stage, "model", arch, tag)


def _read_eval(stage_dir: Path, stage: str) -> dict | None:
    path = stage_dir.parent / "eval" / stage_dir.name / "eval.json"
    if not path.is_file() and stage != stage_dir.name:
        path = stage_dir.parent / "eval" / stage / "eval.json"
    if not path.is_file():
        return None
    try:
        from alignpipe.eval.schema import read_eval

        return read_eval(path)
    except (ImportError, AlignpipeError) as e:
        echo(f"note: eval results left out of the card: {e}")
        return None


def _recipe(stage_dir: Path) -> dict | None:
    path = stage_dir / "recipe.yaml"
    if not path.is_file():
        return None
    recipe = read_yaml(path, "stage recipe")
    return {k: v for k, v in recipe.items() if not is_secret_key(k)}


def write_card(built: Built, stage_dir: Path, repo_id: str, license: str, base_model: str | None) -> Path:
    from alignpipe.tools.cards import model_card

    card = model_card(
        repo_id=repo_id,
        stage=built.stage,
        stage_dir=stage_dir,
        evaluation=_read_eval(stage_dir, built.stage),
        license=license,
        library_name=built.library_name,
        pipeline_tag=built.pipeline_tag,
        base_model=base_model,
        adapter_base=built.adapter_base,
        recipe=_recipe(stage_dir),
        architecture=built.architecture,
        extra_tags=["lora"] if built.kind != "model" else [],
    )
    path = built.folder / "README.md"
    card.save(path)
    return path


def check_no_secret(folder: Path, secret: str | None) -> None:
    """Refuse to upload a folder any file of which contains the token."""
    if not secret:
        return
    needle = secret.encode()
    for p in folder.rglob("*"):
        if p.is_file() and needle in p.read_bytes():
            raise AlignpipeError(f"{p.name} contains the Hugging Face token; nothing was uploaded")


def prepare(
    stage_dir: Path,
    out: Path,
    *,
    repo_id: str,
    merge_lora: bool,
    base_model: str | None,
    license: str,
    overwrite: bool = False,
) -> Built:
    out = output_dir(out, "publish --dry-run", overwrite=overwrite)
    with replacing_dir(out) as tmp:  # whole or not at all, never mixed with what was there
        built = build(stage_dir, tmp, merge_lora=merge_lora, base_model=base_model)
        write_card(built, stage_dir, repo_id, license, base_model)
        check_no_secret(tmp, get_token())
    built.folder = out
    return built


def check_repo_id(repo_id: str, what: str) -> str:
    """`repo_id` if the Hub accepts it as a repository id, else an error naming `what` gave it."""
    try:
        validate_repo_id(repo_id)
    except HFValidationError as e:
        raise AlignpipeError(f"{what} {repo_id!r} is not a repository id: {e}") from None
    return repo_id


def hub_token(hint: str = "") -> str:
    """The token of HF_TOKEN or the Hugging Face login, or a clear error."""
    token = get_token()
    if not token:
        raise AlignpipeError(f"no Hugging Face token: set HF_TOKEN or log in with `hf auth login`{hint}")
    return token


def upload(
    stage_dir: str | Path,
    repo_id: str,
    *,
    private: bool = False,
    merge_lora: bool = False,
    base_model: str | None = None,
    license: str = "apache-2.0",
    hint: str = "",
) -> str:
    """Build the folder for `stage_dir` in a temporary place and upload it to `repo_id`; the repository's URL."""
    token = hub_token(hint)
    stage_dir = Path(stage_dir)
    with tempfile.TemporaryDirectory(prefix="alignpipe-publish-") as tmp:
        built = prepare(
            stage_dir,
            Path(tmp),
            repo_id=repo_id,
            merge_lora=merge_lora,
            base_model=base_model,
            license=license,
        )
        api = HfApi()
        url = api.create_repo(repo_id, private=private, exist_ok=True, token=token)
        api.upload_folder(
            repo_id=getattr(url, "repo_id", repo_id),  # a name without namespace goes to the token's owner
            folder_path=tmp,
            token=token,
            commit_message=f"alignpipe publish: {built.stage} ({built.kind})",
        )
    echo(f"published the {built.kind} of {stage_dir} to {url}")
    return str(url)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="alignpipe publish", description=__doc__.split("\n\n")[0])
    ap.add_argument("stage_dir", help="a stage folder of a run (RUN_DIR/STAGE) or any model folder")
    ap.add_argument("--repo-id", required=True, help="ORG/NAME (or NAME for your own namespace)")
    ap.add_argument("--private", action="store_true", help="create the repository as private")
    ap.add_argument("--merge-lora", action="store_true", help="publish a LoRA stage merged into its base")
    ap.add_argument("--base-model", help="Hub id of the base of a LoRA adapter trained on a local folder")
    ap.add_argument("--license", default="apache-2.0", help="license id for the card (default: apache-2.0)")
    ap.add_argument(
        "--dry-run", metavar="OUT_DIR", help="write the folder that would be uploaded; upload nothing"
    )
    ap.add_argument("--overwrite", action="store_true", help="replace an existing --dry-run OUT_DIR")
    args = ap.parse_args(argv)
    check_repo_id(args.repo_id, "--repo-id")
    stage_dir = Path(args.stage_dir)

    if args.dry_run:
        built = prepare(
            stage_dir,
            Path(args.dry_run),
            repo_id=args.repo_id,
            merge_lora=args.merge_lora,
            base_model=args.base_model,
            license=args.license,
            overwrite=args.overwrite,
        )
        files = sorted(p.name for p in built.folder.iterdir())
        echo(
            f"dry run: wrote the {built.kind} of {stage_dir} ({built.architecture}) to {built.folder}: "
            f"{', '.join(files)}; nothing uploaded"
        )
        return 0

    upload(
        stage_dir,
        args.repo_id,
        private=args.private,
        merge_lora=args.merge_lora,
        base_model=args.base_model,
        license=args.license,
        hint=" (or use --dry-run OUT_DIR to write the folder without uploading)",
    )
    return 0


if __name__ == "__main__":
    from alignpipe.core.errors import run_cli

    raise SystemExit(run_cli(main))
