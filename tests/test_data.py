"""Data loading, format conversion, validation and mixtures (alignpipe.core.data, alignpipe.tools.data_cli)."""

import gzip
import json
import math
import statistics
import sys
import types

import pytest
from datasets import Dataset, DatasetDict

from alignpipe.cli import main as cli_main
from alignpipe.core.data import DataErrors, load_source
from alignpipe.core.errors import AlignpipeError, DataError
from alignpipe.core.formats import parse_hh
from alignpipe.core.lengths import check_lengths, token_lengths
from alignpipe.core.mixtures import load_mixture, mixture_from_args


def U(text):
    return {"role": "user", "content": text}


def A(text):
    return {"role": "assistant", "content": text}


def S(text):
    return {"role": "system", "content": text}


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def converted(tmp_path, rows, kind):
    path = write_jsonl(tmp_path / "rows.jsonl", rows)
    return load_source({"id": str(path)}, kind).train.to_list()


# --- formats -------------------------------------------------------------------------------------

SFT_CASES = {
    "messages": (
        {"messages": [S("Be brief."), U("Hi"), A("Hello.")], "task": "greet"},
        {"messages": [S("Be brief."), U("Hi"), A("Hello.")], "task": "greet"},
    ),
    "prompt-completion strings": (
        {"prompt": "2+2?", "completion": "4", "answer": "4"},
        {"prompt": [U("2+2?")], "completion": [A("4")], "answer": "4"},
    ),
    "prompt-completion messages": (
        {"prompt": [S("Math."), U("2+2?")], "completion": [A("4")]},
        {"prompt": [S("Math."), U("2+2?")], "completion": [A("4")]},
    ),
    "text": ({"text": "Once upon a time."}, {"text": "Once upon a time."}),
    "sharegpt": (
        {
            "conversations": [
                {"from": "system", "value": "Sys"},
                {"from": "human", "value": "Q1"},
                {"from": "gpt", "value": "R1"},
                {"from": "human", "value": "Q2"},
                {"from": "gpt", "value": "R2"},
            ]
        },
        {"messages": [S("Sys"), U("Q1"), A("R1"), U("Q2"), A("R2")]},
    ),
    "alpaca with input": (
        {"instruction": "Translate to French.", "input": "cat", "output": "chat"},
        {"prompt": [U("Translate to French.\n\ncat")], "completion": [A("chat")]},
    ),
    "alpaca empty input": (
        {"instruction": "Name a colour.", "input": "", "output": "Red."},
        {"prompt": [U("Name a colour.")], "completion": [A("Red.")]},
    ),
    "alpaca-eval model outputs": (
        {"instruction": "Say hi.", "output": "Hi!", "dataset": "helpful_base"},
        {"prompt": [U("Say hi.")], "completion": [A("Hi!")], "dataset": "helpful_base"},
    ),
    "preference rows (SFT on chosen)": (
        {"chosen": "\n\nHuman: Hi\n\nAssistant: Hello!", "rejected": "\n\nHuman: Hi\n\nAssistant: Go away."},
        {"prompt": [U("Hi")], "completion": [A("Hello!")]},
    ),
}


@pytest.mark.parametrize("case", list(SFT_CASES))
def test_sft_formats_convert_to_trl_conversational(tmp_path, case):
    row, expected = SFT_CASES[case]
    assert converted(tmp_path, [row], "sft") == [expected]


HH_CHOSEN = (
    "\n\nHuman: What is a pen?\n\nAssistant: A tool for writing.\n\nHuman: Can I prank with one?"
    "\n\nAssistant:  Sure, draw a fake moustache. "
)
HH_REJECTED = (
    "\n\nHuman: What is a pen?\n\nAssistant: A tool for writing.\n\nHuman: Can I prank with one?"
    "\n\nAssistant: No."
)
HH_PROMPT = [U("What is a pen?"), A("A tool for writing."), U("Can I prank with one?")]

PREFERENCE_CASES = {
    "explicit strings": (
        {"prompt": "Sky colour?", "chosen": "Blue.", "rejected": "Green.", "task": "qa"},
        {"prompt": [U("Sky colour?")], "chosen": [A("Blue.")], "rejected": [A("Green.")], "task": "qa"},
    ),
    "explicit messages": (
        {"prompt": [S("Short."), U("Sky?")], "chosen": [A("Blue.")], "rejected": [A("Green.")]},
        {"prompt": [S("Short."), U("Sky?")], "chosen": [A("Blue.")], "rejected": [A("Green.")]},
    ),
    "implicit prompt, conversations": (
        {
            "chosen": [U("Hi"), A("Hello"), U("Sky?"), A("Blue.")],
            "rejected": [U("Hi"), A("Hello"), U("Sky?"), A("Green.")],
        },
        {"prompt": [U("Hi"), A("Hello"), U("Sky?")], "chosen": [A("Blue.")], "rejected": [A("Green.")]},
    ),
    "implicit prompt diverging early (multi-turn continuation)": (
        {"chosen": [U("Hi"), A("Hello"), U("Sky?"), A("Blue.")], "rejected": [U("Hi"), A("Go away.")]},
        {"prompt": [U("Hi")], "chosen": [A("Hello"), U("Sky?"), A("Blue.")], "rejected": [A("Go away.")]},
    ),
    "hh-rlhf text, multi-turn": (
        {"chosen": HH_CHOSEN, "rejected": HH_REJECTED},
        {"prompt": HH_PROMPT, "chosen": [A("Sure, draw a fake moustache.")], "rejected": [A("No.")]},
    ),
    "ultrafeedback binarized": (
        {
            "prompt": "Sky?",
            "prompt_id": "p1",
            "chosen": [U("Sky?"), A("Blue.")],
            "rejected": [U("Sky?"), A("Green.")],
            "messages": [U("Sky?"), A("Blue.")],
            "score_chosen": 9.0,
            "score_rejected": 2.5,
        },
        {
            "prompt": [U("Sky?")],
            "prompt_id": "p1",
            "chosen": [A("Blue.")],
            "rejected": [A("Green.")],
            "score_chosen": 9.0,
            "score_rejected": 2.5,
        },
    ),
    "hh prompt string with the Assistant cue": (
        {"prompt": "\n\nHuman: Sky?\n\nAssistant:", "chosen": " Blue.", "rejected": " Green."},
        {"prompt": [U("Sky?")], "chosen": [A(" Blue.")], "rejected": [A(" Green.")]},
    ),
}


@pytest.mark.parametrize("case", list(PREFERENCE_CASES))
def test_preference_formats_convert_to_trl_conversational(tmp_path, case):
    row, expected = PREFERENCE_CASES[case]
    assert converted(tmp_path, [row], "preference") == [expected]


PROMPT_CASES = {
    "string": (
        {"prompt": "Sky?", "answer": "blue", "task": "qa"},
        {"prompt": [U("Sky?")], "answer": "blue", "task": "qa"},
    ),
    "messages, trailing assistant dropped": (
        {"messages": [U("Hi"), A("Hello"), U("Sky?"), A("Blue.")]},
        {"prompt": [U("Hi"), A("Hello"), U("Sky?")]},
    ),
    "alpaca": (
        {"instruction": "Translate.", "input": "cat", "output": "chat"},
        {"prompt": [U("Translate.\n\ncat")], "output": "chat"},
    ),
    "gsm8k question, answer kept for rewards": (
        {"question": "2 + 3?", "answer": "2 + 3 = 5\n#### 5"},
        {"prompt": [U("2 + 3?")], "answer": "2 + 3 = 5\n#### 5"},
    ),
    "hh text": ({"prompt": HH_CHOSEN}, {"prompt": HH_PROMPT}),
    "preference rows": ({"chosen": HH_CHOSEN, "rejected": HH_REJECTED}, {"prompt": HH_PROMPT}),
}


@pytest.mark.parametrize("case", list(PROMPT_CASES))
def test_prompt_formats_convert_to_a_prompt_ending_with_a_user_turn(tmp_path, case):
    row, expected = PROMPT_CASES[case]
    assert converted(tmp_path, [row], "prompt") == [expected]


def test_parse_hh_strips_turns_and_joins_a_speakers_consecutive_turns():
    text = "\n\nHuman:  Hi there \n\nAssistant: One.\n\nAssistant: Two.\n\nHuman: Ok\n\nAssistant:"
    assert parse_hh(text) == [U("Hi there"), A("One.\n\nTwo."), U("Ok"), A("")]


def test_hh_rlhf_dev_set_converts_every_row(shared_data):
    path = shared_data / "hh-rlhf-harmless" / "dev.jsonl"
    raw = [json.loads(line) for line in path.read_text().splitlines()]
    source = load_source({"id": str(path)}, "preference")
    assert source.format.startswith("hh-rlhf text")
    rows = source.train.to_list()
    assert len(rows) == len(raw) == 1800
    for row, original in zip(rows, raw, strict=True):
        assert row["prompt"][0]["role"] == "user" and row["prompt"][-1]["role"] == "user"
        assert [m["role"] for m in row["chosen"]] == ["assistant"]
        assert [m["role"] for m in row["rejected"]] == ["assistant"]
        assert row["chosen"] != row["rejected"]
        # The last reply is the text after the last "Assistant:" marker of the original.
        assert row["rejected"][0]["content"] == original["rejected"].rsplit("\n\nAssistant:", 1)[1].strip()
    assert rows[0]["prompt"][0] == U("what are some pranks with a pen i can do?")


# --- the command line ----------------------------------------------------------------------------


def test_data_check_alpaca_eval_model_outputs(shared_data, capsys):
    path = shared_data / "alpaca-eval" / "Meta-Llama-3-8B-Instruct.model_outputs.json.gz"
    with gzip.open(path, "rt") as f:
        records = json.load(f)
    assert cli_main(["data", "check", str(path), "--kind", "sft"]) == 0
    out = capsys.readouterr().out
    assert "format: alpaca -> prompt + completion" in out and "rows:   805" in out
    lengths = [len(r["output"]) for r in records]
    completion_chars = next(line for line in out.splitlines() if line.startswith("completion"))
    assert completion_chars.split()[2:] == [
        f"{statistics.fmean(lengths):.1f}",
        f"{statistics.median(lengths):.1f}",
        str(max(lengths)),
    ]


def test_data_check_alpaca_eval_annotations_as_sft(shared_data, capsys):
    path = shared_data / "alpaca-eval" / "alpaca-7b.annotations.json.gz"
    with gzip.open(path, "rt") as f:
        records = json.load(f)
    assert cli_main(["data", "check", str(path), "--kind", "sft"]) == 0
    out = capsys.readouterr().out
    assert "alpaca-eval-annotations" in out and "rows:   805" in out
    rows = load_source({"id": str(path)}, "sft").train
    assert rows[3]["completion"] == [A(records[3]["output_1"])]
    assert rows[3]["output_2"] == records[3]["output_2"]  # other columns survive


def test_data_convert_hh_rlhf_writes_trl_format(shared_data, tmp_path, capsys):
    out = tmp_path / "hh.jsonl"
    src = shared_data / "hh-rlhf-harmless" / "dev.jsonl"
    assert cli_main(["data", "convert", str(src), "--kind", "preference", "-o", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 1800 and set(rows[0]) == {"prompt", "chosen", "rejected"}
    assert all(
        r["prompt"][-1]["role"] == "user" and len(r["chosen"]) == len(r["rejected"]) == 1 for r in rows
    )
    assert list(tmp_path.iterdir()) == [out]  # no temporary file left behind
    reloaded = load_source({"id": str(out)}, "preference").train.to_list()  # converted data reads back as is
    assert reloaded == rows


def test_text_kind_keeps_line_breaks_so_rows_join_back_into_the_file(shared_data):
    path = shared_data / "tinyshakespeare" / "input.txt"
    rows = load_source({"id": str(path)}, "text").train["text"]
    assert "".join(rows) == path.read_text()


def write_as(path, rows):
    """Write rows in the format the file name says, with pandas/pyarrow as a user would."""
    import pandas as pd

    name = path.name
    if name.endswith(".jsonl.gz"):
        with gzip.open(path, "wt") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)
    elif name.endswith(".json"):
        path.write_text(json.dumps(rows, indent=1))
    elif name.endswith(".parquet"):
        pd.DataFrame(rows).to_parquet(path)
    elif name.endswith(".csv"):
        pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("name", ["rows.json", "rows.jsonl.gz", "rows.parquet", "rows.csv"])
def test_every_file_type_reads_the_same(tmp_path, name):
    rows = [
        {"instruction": "Say hi.", "output": "Hi!", "dataset": "x"},
        {"instruction": "Count.", "output": "1 2"},
    ]
    path = write_as(tmp_path / name, rows)
    assert load_source({"id": str(path)}, "sft").train.to_list() == [
        {"prompt": [U("Say hi.")], "completion": [A("Hi!")], "dataset": "x"},
        {"prompt": [U("Count.")], "completion": [A("1 2")], "dataset": None},
    ]


def test_txt_file_of_prompts_and_a_saved_dataset_folder(tmp_path):
    (tmp_path / "prompts.txt").write_text("Sky colour?\nGrass colour?\n")
    assert load_source({"id": str(tmp_path / "prompts.txt")}, "prompt").train["prompt"] == [
        [U("Sky colour?")],
        [U("Grass colour?")],
    ]
    Dataset.from_list([{"text": "doc one"}, {"text": "doc two"}]).save_to_disk(tmp_path / "saved")
    source = load_source({"id": str(tmp_path / "saved")}, "text")
    assert source.train["text"] == ["doc one", "doc two"] and source.test is None


# --- validation ----------------------------------------------------------------------------------

GOOD = {"prompt": "Sky?", "chosen": "Blue.", "rejected": "Green."}
BAD_ROWS = {
    "missing field": ({"prompt": "Sky?", "chosen": "Blue."}, "rejected", "got nothing"),
    "empty string": ({"prompt": "  ", "chosen": "Blue.", "rejected": "Green."}, "prompt", "empty string"),
    "wrong type": ({"prompt": "Sky?", "chosen": 42, "rejected": "Green."}, "chosen", "got int"),
    "chosen equals rejected": (
        {"prompt": "Sky?", "chosen": "Blue.", "rejected": "Blue."},
        "rejected",
        "different from 'chosen'",
    ),
    "unknown role": (
        {"prompt": [{"role": "bot", "content": "Sky?"}], "chosen": "Blue.", "rejected": "Green."},
        "prompt",
        "got 'bot'",
    ),
    "prompt ends with the reply": (
        {"prompt": [U("Sky?"), A("Blue.")], "chosen": "Blue.", "rejected": "Green."},
        "prompt",
        "ending with a user turn",
    ),
}


@pytest.mark.parametrize("case", list(BAD_ROWS))
def test_bad_rows_raise_a_data_error_naming_file_row_and_field(tmp_path, case):
    bad, field, words = BAD_ROWS[case]
    path = write_jsonl(tmp_path / "prefs.jsonl", [GOOD, GOOD, bad, GOOD])
    with pytest.raises(DataError) as info:
        load_mixture({"datasets": [{"id": str(path)}]}, "preference")
    e = info.value
    assert (e.source, e.row, e.field) == (str(path), 3, field)
    assert str(e).startswith(f"{path}, row 3, field '{field}': expected") and words in str(e)


def test_several_bad_rows_are_reported_together(tmp_path):
    rows = [GOOD, {**GOOD, "chosen": ""}, GOOD, {**GOOD, "rejected": None}, {**GOOD, "prompt": []}]
    path = write_jsonl(tmp_path / "prefs.jsonl", rows)
    with pytest.raises(DataErrors) as info:
        load_source({"id": str(path)}, "preference")
    assert [(e.row, e.field) for e in info.value.errors] == [(2, "chosen"), (4, "rejected"), (5, "prompt")]
    assert str(info.value).startswith(f"{path}: 3 bad rows; the first 3:")


def test_reading_stops_after_max_errors(tmp_path, monkeypatch):
    monkeypatch.setattr("alignpipe.core.data.MAX_ERRORS", 4)
    path = write_jsonl(tmp_path / "prefs.jsonl", [{**GOOD, "chosen": 1}] * 10)
    with pytest.raises(DataErrors, match="at least 4 bad rows") as info:
        load_source({"id": str(path)}, "preference")
    assert str(info.value).count("field 'chosen'") == 4


def test_invalid_json_line_is_named(tmp_path):
    path = tmp_path / "prefs.jsonl"
    path.write_text(json.dumps(GOOD) + "\n{not json\n")
    with pytest.raises(DataError, match=r"prefs.jsonl, row 2: expected a JSON object") as info:
        load_source({"id": str(path)}, "sft")
    assert info.value.row == 2


def test_unknown_layout_lists_the_columns(tmp_path):
    path = write_jsonl(tmp_path / "x.jsonl", [{"question": "Sky?", "reply": "Blue."}])
    with pytest.raises(AlignpipeError, match=r"columns are \['question', 'reply'\].*chosen\+rejected"):
        load_source({"id": str(path)}, "preference")


def make_tokenizer():
    """Word-level tokenizer: one token per whitespace-separated piece; template 'role: content' per turn."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel({"[UNK]": 0, "[EOS]": 1}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", eos_token="[EOS]")
    tokenizer.chat_template = (
        "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}assistant:{% endif %}"
    )
    return tokenizer


LENGTH_ROWS = [
    {"prompt": "a b c", "chosen": "d e", "rejected": "f"},  # prompt+chosen: (1+3)+(1+2) = 7 tokens
    {"prompt": "a", "chosen": "b", "rejected": "c d e f g h"},  # prompt+rejected: 2 + 7 = 9 tokens
]


def test_token_lengths_apply_the_chat_template(tmp_path):
    ds = load_source({"id": str(write_jsonl(tmp_path / "p.jsonl", LENGTH_ROWS))}, "preference").train
    assert token_lengths(ds, make_tokenizer()) == {"chosen": [7, 4], "rejected": [6, 9]}
    prompts = load_source({"id": str(tmp_path / "p.jsonl")}, "prompt").train
    assert token_lengths(prompts, make_tokenizer()) == {"prompt": [5, 3]}  # + the "assistant:" cue


def test_too_long_rows_raise_with_file_row_and_field(tmp_path):
    path = write_jsonl(tmp_path / "p.jsonl", LENGTH_ROWS)
    with pytest.raises(DataError) as info:
        load_mixture(
            {"datasets": [{"id": str(path)}]}, "preference", tokenizer=make_tokenizer(), max_length=8
        )
    assert (info.value.source, info.value.row, info.value.field) == (str(path), 2, "rejected")
    assert "expected at most 8 tokens with the chat template applied, got 9" in str(info.value)
    ds = load_source({"id": str(path)}, "preference").train
    assert check_lengths(ds, make_tokenizer(), 9, "p") is ds
    assert check_lengths(ds, make_tokenizer(), 8, "p", drop=True)["rejected"] == [[A("f")]]


def test_cli_check_fails_with_exit_2_on_bad_data(tmp_path, capsys):
    path = write_jsonl(tmp_path / "prefs.jsonl", [GOOD, {**GOOD, "rejected": "Blue."}])
    assert cli_main(["data", "check", str(path), "--kind", "preference"]) == 2
    err = capsys.readouterr().err
    assert f"alignpipe: error: {path}, row 2, field 'rejected': expected a reply different" in err


def test_cli_convert_writes_nothing_on_bad_data(tmp_path, capsys):
    path = write_jsonl(tmp_path / "prefs.jsonl", [GOOD, {**GOOD, "chosen": ""}])
    out = tmp_path / "out" / "converted.jsonl"
    assert cli_main(["data", "convert", str(path), "--kind", "preference", "-o", str(out)]) == 2
    assert "row 2, field 'chosen'" in capsys.readouterr().err
    assert not out.exists() and not (out.parent.exists() and any(out.parent.iterdir()))


def test_cli_check_max_length_with_a_saved_tokenizer(tmp_path, capsys):
    make_tokenizer().save_pretrained(tmp_path / "tok")
    path = write_jsonl(tmp_path / "p.jsonl", LENGTH_ROWS)
    base = ["data", "check", str(path), "--kind", "preference", "--tokenizer", str(tmp_path / "tok")]
    assert cli_main(base + ["--max-length", "9"]) == 0
    assert "prompt+chosen tokens       5.5      5.5        7" in capsys.readouterr().out
    assert cli_main(base + ["--max-length", "8"]) == 2
    assert "row 2, field 'rejected': expected at most 8 tokens" in capsys.readouterr().err


# --- sources and mixtures ------------------------------------------------------------------------


def sft_rows(name, n):
    return [
        {"messages": [U(f"{name} question {i}"), A(f"{name} answer {i}")], "task": name} for i in range(n)
    ]


def alpaca_rows(name, n):
    return [{"instruction": f"{name} question {i}", "output": f"{name} answer {i}"} for i in range(n)]


def question(row):
    return row["messages"][0]["content"]


def test_mixture_weights_and_test_split_size_give_exact_counts(tmp_path):
    a = write_jsonl(tmp_path / "a.jsonl", sft_rows("a", 40))
    b = write_jsonl(tmp_path / "b.jsonl", alpaca_rows("b", 30))
    mixture = {
        "datasets": [{"id": str(a), "weight": 0.5}, {"id": str(b), "weight": 1.0}],
        "test_split_size": 0.1,
        "seed": 3,
    }
    dsd = load_mixture(mixture, "sft")
    assert isinstance(dsd, DatasetDict) and (len(dsd["train"]), len(dsd["test"])) == (45, 5)
    # alpaca prompt/completion rows were joined into messages to match the other source
    assert sorted(dsd["train"].column_names) == ["messages", "task"]
    rows = dsd["train"].to_list() + dsd["test"].to_list()
    questions = [question(r) for r in rows]
    assert len(set(questions)) == 50
    assert (
        sum(q.startswith("a ") for q in questions) == 20 and sum(q.startswith("b ") for q in questions) == 30
    )
    assert {r["task"] for r in rows if question(r).startswith("b ")} == {None}  # column filled with nulls
    # the same seed gives the same split; a row count works as test_split_size too
    assert load_mixture(mixture, "sft")["test"].to_list() == dsd["test"].to_list()
    assert len(load_mixture({**mixture, "test_split_size": 7}, "sft")["test"]) == 7


def test_sources_with_their_own_test_split_keep_it(tmp_path):
    DatasetDict(
        {"train": Dataset.from_list(alpaca_rows("f", 20)), "test": Dataset.from_list(alpaca_rows("ftest", 6))}
    ).save_to_disk(tmp_path / "folder")
    c = write_jsonl(tmp_path / "c.jsonl", alpaca_rows("c", 30))
    mixture = {
        "datasets": [{"id": "folder", "test_split": "test"}, {"id": "c.jsonl", "weight": 0.5}],
        "test_split_size": 0.2,
    }
    dsd = load_mixture(mixture, "sft", base_dir=tmp_path)
    assert (len(dsd["train"]), len(dsd["test"])) == (20 + 12, 6 + 3)
    test_prompts = [r["prompt"][0]["content"] for r in dsd["test"]]
    assert (
        sum(p.startswith("ftest ") for p in test_prompts) == 6
        and sum(p.startswith("c ") for p in test_prompts) == 3
    )
    assert not any(r["prompt"][0]["content"].startswith("ftest ") for r in dsd["train"])
    assert c.exists()


def test_bad_row_in_a_test_split_names_that_split(tmp_path):
    test_rows = alpaca_rows("t", 3)
    test_rows[1]["output"] = None
    DatasetDict(
        {"train": Dataset.from_list(alpaca_rows("f", 5)), "test": Dataset.from_list(test_rows)}
    ).save_to_disk(tmp_path / "folder")
    with pytest.raises(DataError) as info:
        load_mixture({"datasets": [{"id": str(tmp_path / "folder"), "test_split": "test"}]}, "sft")
    assert (info.value.source, info.value.row, info.value.field) == (
        f"{tmp_path / 'folder'} (split test)",
        2,
        "output",
    )


def test_implicit_prompt_needs_a_shared_opening(tmp_path):
    path = write_jsonl(tmp_path / "p.jsonl", [{"chosen": [U("a"), A("x")], "rejected": [U("b"), A("y")]}])
    with pytest.raises(
        DataError, match="row 1, field 'rejected': expected a conversation sharing its opening"
    ):
        load_source({"id": str(path)}, "preference")


def test_no_test_split_size_gives_an_empty_test_split(tmp_path):
    a = write_jsonl(tmp_path / "a.jsonl", sft_rows("a", 10))
    dsd = load_mixture({"datasets": [{"id": str(a), "columns": ["messages"]}]}, "sft")
    assert (len(dsd["train"]), len(dsd["test"])) == (10, 0)
    assert dsd["test"].column_names == dsd["train"].column_names == ["messages"]


def test_default_source_uses_its_own_held_out_split(monkeypatch):
    calls = []

    def load_default(kind, split, seed):
        calls.append((kind, split, seed))
        n = 40 if split == "train" else 8
        return Dataset.from_list(
            [{"prompt": f"{split} {i}", "chosen": "yes", "rejected": "no"} for i in range(n)]
        )

    monkeypatch.setitem(sys.modules, "alignpipe.defaults", types.SimpleNamespace(load_default=load_default))
    mixture = {"datasets": [{"id": "default", "weight": 0.25}], "test_split_size": 0.5, "seed": 5}
    dsd = load_mixture(mixture, "preference")
    assert sorted(calls) == [("preference", "test", 5), ("preference", "train", 5)]
    assert (len(dsd["train"]), len(dsd["test"])) == (10, 8)
    assert dsd["test"][0] == {"prompt": [U("test 0")], "chosen": [A("yes")], "rejected": [A("no")]}


def test_script_arguments_shorthand(tmp_path):
    DatasetDict(
        {"train": Dataset.from_list(alpaca_rows("f", 20)), "test": Dataset.from_list(alpaca_rows("t", 4))}
    ).save_to_disk(tmp_path / "folder")
    args = types.SimpleNamespace(
        dataset_name=str(tmp_path / "folder"),
        dataset_config=None,
        dataset_train_split="train",
        dataset_test_split="test",
        seed=0,
    )
    dsd = load_mixture(mixture_from_args(args), "prompt")
    assert (len(dsd["train"]), len(dsd["test"])) == (20, 4)
    # a single file has no test split: test_split_size of its rows are held out instead
    path = write_jsonl(tmp_path / "a.jsonl", alpaca_rows("a", 20))
    recipe = {"dataset_name": str(path), "dataset_test_split": "test", "test_split_size": 0.25}
    dsd = load_mixture(mixture_from_args(recipe), "prompt")
    assert (len(dsd["train"]), len(dsd["test"])) == (15, math.ceil(0.25 * 20))
    with pytest.raises(AlignpipeError, match="either dataset_mixture or dataset_name"):
        mixture_from_args({**recipe, "dataset_mixture": {"datasets": []}})


def test_hub_id_offline_gives_a_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(AlignpipeError) as info:
        load_mixture({"datasets": [{"id": "nobody-here/no-such-dataset", "split": "train"}]}, "sft")
    message = str(info.value)
    assert "'nobody-here/no-such-dataset' is not a local file or folder" in message
    assert "Hugging Face Hub" in message and "download it and give its local path" in message


def test_missing_local_file_is_named(tmp_path):
    with pytest.raises(AlignpipeError, match="data source .*nope.jsonl does not exist"):
        load_mixture({"datasets": [{"id": str(tmp_path / "nope.jsonl")}]}, "sft")


@pytest.mark.parametrize("weight", [0, 1.5, "half"])
def test_bad_weight_is_rejected(tmp_path, weight):
    a = write_jsonl(tmp_path / "a.jsonl", sft_rows("a", 4))
    with pytest.raises(AlignpipeError, match="weight must be a fraction"):
        load_mixture({"datasets": [{"id": str(a), "weight": weight}]}, "sft")


def test_cli_gives_back_sys_argv_after_a_command(tmp_path, capsys):
    before = list(sys.argv)
    assert cli_main(["data", "check", str(tmp_path / "absent.jsonl"), "--kind", "sft"]) != 0
    assert "absent.jsonl" in capsys.readouterr().err
    assert sys.argv == before  # the command saw `alignpipe data ...`; the caller's argv is back


def test_where_keeps_the_matching_training_rows_and_every_held_out_one():
    mixture = {"datasets": [{"id": "default", "where": {"safety": ["unsafe", "benign"]}}]}
    dsd = load_mixture(mixture, "prompt")
    from alignpipe.defaults import default_rows

    train = default_rows("prompt", "train")
    assert len(dsd["train"]) == sum(r["safety"] in ("unsafe", "benign") for r in train) > 0
    assert set(dsd["train"]["safety"]) == {"unsafe", "benign"}
    assert len(dsd["test"]) == len(default_rows("prompt", "test"))  # held-out rows kept whole
    one = load_mixture({"datasets": [{"id": "default", "where": {"safety": "unsafe"}}]}, "prompt")
    assert set(one["train"]["safety"]) == {"unsafe"}


@pytest.mark.parametrize(
    "where, message",
    [
        ({"nope": 1}, r"no column\(s\) \['nope'\] to select rows by"),
        ({"safety": "other"}, "no training row matches"),
        ("safety", "'where' must map columns"),
    ],
)
def test_bad_where_is_a_clear_error(where, message):
    with pytest.raises(AlignpipeError, match=message):
        load_mixture({"datasets": [{"id": "default", "where": where}]}, "prompt")
