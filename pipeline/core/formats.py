"""Row formats: detect how a data set is laid out and convert each row to TRL's conversational format.

Four kinds of data, each with the columns TRL's trainers read:

| kind         | output columns                                        | trainer                         |
|--------------|-------------------------------------------------------|---------------------------------|
| `text`       | `text` (a string)                                     | pretraining                     |
| `sft`        | `messages`, or `prompt` + `completion`, or `text`     | SFTTrainer                      |
| `preference` | `prompt`, `chosen`, `rejected`                        | RewardTrainer, DPOTrainer       |
| `prompt`     | `prompt`                                              | PPOTrainer (prompts to answer)  |

Every conversational value is a list of `{"role", "content"}` messages with roles `system`, `user` or
`assistant`. A `prompt` ends with a user turn; a `completion`, `chosen` or `rejected` reply starts and
ends with an assistant turn (usually it is exactly one assistant message; it is longer when the two
replies of a pair diverge earlier in a multi-turn conversation).

The input layout is detected once per source from its column names (first match wins):

- `sft`: `messages` (role/content or from/value), `conversations` (ShareGPT: from/value with
  human/gpt/system), `prompt` + `completion` (strings or message lists), `chosen` + `rejected`
  (preference rows: SFT on the prompt and the chosen reply), `instruction` + `output` (Alpaca, optional
  `input`; AlpacaEval model outputs), `instruction` + `output_1` (AlpacaEval annotations: the reference
  answer), `text` (kept as TRL's language-modelling format).
- `preference`: `chosen` + `rejected`, with an explicit `prompt` (string or messages; replies as strings
  or messages) or an implicit one: chosen/rejected are whole conversations (message lists, or HH-RLHF
  text `"\\n\\nHuman: ...\\n\\nAssistant: ..."`) and the prompt is their shared opening, cut back to end
  on a user turn, as TRL's `extract_prompt` does for messages. A string `prompt` next to conversational
  replies (UltraFeedback-binarized) is ignored in favour of the shared opening, as TRL's
  `maybe_extract_prompt` does.
- `prompt`: `prompt` (string, HH text or messages), `messages` / `conversations` (a trailing assistant
  turn is dropped), `chosen` + `rejected` (the pair's prompt), `instruction` (+ `input`), `text`.
- `text`: `text`.

A string that starts with `Human:` and holds `\\n\\nAssistant:` is read as HH-RLHF text: its turns become
messages (contents stripped, consecutive turns of one speaker joined by a blank line, as they appear
in a few HH-RLHF rows). Other strings become a single user (prompt side) or assistant (reply side)
message, unchanged.

Columns that TRL reads (`prompt`, `completion`, `chosen`, `rejected`, `messages`, `conversations`,
`text`) and that the format does not produce are dropped; every other column (`task`, `answer`,
`score_chosen`, ...) is kept unchanged.

Row checks (a failure raises `RowError(field, expected)`): a field is present, not null, and not empty;
it has the right type; messages have a known role and string content; user and system turns have text
(an assistant turn may be empty: HH-RLHF prefers silence in a few pairs); a pair's chosen and rejected
replies differ.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from datasets import List, Value

from alignpipe.core.errors import AlignpipeError

KINDS = ("text", "sft", "preference", "prompt")
TRL_COLUMNS = ("prompt", "completion", "chosen", "rejected", "messages", "conversations", "text")

# Accepted speaker names (role/content and ShareGPT from/value) and the role each one becomes.
ROLE_NAMES = {
    "system": "system",
    "user": "user",
    "human": "user",
    "assistant": "assistant",
    "gpt": "assistant",
}

MESSAGES = List({"role": Value("string"), "content": Value("string")})
TEXT = Value("string")

Message = dict[str, str]
Row = dict[str, Any]


class RowError(Exception):
    """One bad field in one row; the caller adds the source and the row number (`DataError`)."""

    def __init__(self, field: str, expected: str):
        super().__init__(f"{field}: {expected}")
        self.field, self.expected = field, expected


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


# --- values -> messages --------------------------------------------------------------------------

_HH_MARKER = re.compile(r"\n\n(Human|Assistant):")
_HH_START = re.compile(r"\s*Human:")
_HH_ROLES = {"Human": "user", "Assistant": "assistant"}


def is_hh_text(value: Any) -> bool:
    """True for HH-RLHF text: starts with `Human:` (after blank lines) and has an `Assistant:` turn."""
    return isinstance(value, str) and bool(_HH_START.match(value)) and "\n\nAssistant:" in value


def parse_hh(text: str) -> list[Message]:
    """Split HH-RLHF text into messages; consecutive turns of one speaker become one message."""
    parts = _HH_MARKER.split("\n\n" + text.lstrip())
    messages: list[Message] = []
    for speaker, content in zip(parts[1::2], parts[2::2], strict=True):
        role, content = _HH_ROLES[speaker], content.strip()
        if messages and messages[-1]["role"] == role:
            messages[-1]["content"] = f"{messages[-1]['content']}\n\n{content}".strip()
        else:
            messages.append({"role": role, "content": content})
    return messages


def _present(row: Row, field: str, expected: str) -> Any:
    value = row.get(field)
    if value is None:
        raise RowError(field, f"expected {expected}, got nothing (the field is missing or null)")
    if isinstance(value, (str, list)) and not (value.strip() if isinstance(value, str) else value):
        raise RowError(
            field, f"expected {expected}, got an empty {'string' if isinstance(value, str) else 'list'}"
        )
    return value


def _check_messages(value: list, field: str) -> list[Message]:
    """Validate a list of role/content (or from/value) dicts and return clean role/content messages."""
    messages = []
    for i, message in enumerate(value, 1):
        if not isinstance(message, dict):
            raise RowError(
                field, f"expected message {i} to be a {{role, content}} object, got {_type_name(message)}"
            )
        # Arrow gives rows of a file mixing both styles all four keys, the unused ones null.
        sharegpt = message.get("role") is None and message.get("from") is not None
        speaker, content = (
            (message.get("from"), message.get("value"))
            if sharegpt
            else (message.get("role"), message.get("content"))
        )
        if not isinstance(speaker, str) or speaker not in ROLE_NAMES:
            known = ", ".join(ROLE_NAMES)
            raise RowError(field, f"expected message {i} to have a role among {known}, got {speaker!r}")
        role = ROLE_NAMES[speaker]
        if not isinstance(content, str):
            raise RowError(
                field, f"expected message {i} ({role}) to have string content, got {_type_name(content)}"
            )
        if role != "assistant" and not content.strip():
            raise RowError(field, f"expected message {i} ({role}) to have text, got an empty string")
        messages.append({"role": role, "content": content})
    return messages


def to_conversation(row: Row, field: str) -> list[Message]:
    """A whole conversation: a message list or HH-RLHF text."""
    expected = "a list of messages or HH-RLHF text ('\\n\\nHuman: ...\\n\\nAssistant: ...')"
    value = _present(row, field, expected)
    if isinstance(value, list):
        return _check_messages(value, field)
    if is_hh_text(value):
        return _check_messages(parse_hh(value), field)
    raise RowError(
        field, f"expected {expected}, got {_type_name(value) if not isinstance(value, str) else 'plain text'}"
    )


def to_prompt(row: Row, field: str, *, drop_reply: bool = False) -> list[Message]:
    """A prompt: a string (one user turn), HH-RLHF text or messages, ending with a user turn.

    A trailing empty assistant turn (HH's `"...\\n\\nAssistant:"` cue) is always dropped; with
    `drop_reply` a trailing assistant reply is dropped too (a conversation used as a prompt).
    """
    value = _present(row, field, "a string or a list of messages")
    if isinstance(value, list):
        messages = _check_messages(value, field)
    elif isinstance(value, str) and _HH_START.match(value):  # HH text, maybe without the Assistant cue
        messages = _check_messages(parse_hh(value), field)
    elif isinstance(value, str):
        messages = [{"role": "user", "content": value}]
    else:
        raise RowError(field, f"expected a string or a list of messages, got {_type_name(value)}")
    if messages[-1]["role"] == "assistant" and (drop_reply or not messages[-1]["content"]):
        messages = messages[:-1]
    if not messages or messages[-1]["role"] != "user":
        last = messages[-1]["role"] if messages else "nothing"
        raise RowError(field, f"expected a prompt ending with a user turn, got one ending with {last}")
    return messages


def to_reply(row: Row, field: str) -> list[Message]:
    """A reply: a string (one assistant turn) or messages starting and ending with an assistant turn."""
    value = _present(row, field, "a string or a list of messages")
    if isinstance(value, str):
        return [{"role": "assistant", "content": value}]
    if not isinstance(value, list):
        raise RowError(field, f"expected a string or a list of messages, got {_type_name(value)}")
    return _check_reply(_check_messages(value, field), field)


def _check_reply(messages: list[Message], field: str) -> list[Message]:
    if not messages:
        raise RowError(
            field, "expected a reply after the prompt, got nothing (the conversation ends with the prompt)"
        )
    if messages[0]["role"] != "assistant":
        raise RowError(
            field,
            f"expected a reply starting with an assistant turn, got a {messages[0]['role']} turn "
            "(is the prompt repeated in it?)",
        )
    if messages[-1]["role"] != "assistant":
        raise RowError(
            field, f"expected a reply ending with an assistant turn, got a {messages[-1]['role']} turn"
        )
    return messages


def split_shared_prompt(chosen: list[Message], rejected: list[Message]) -> tuple[list, list, list]:
    """TRL's `extract_prompt` for messages, with the prompt cut back to end on a user turn."""
    shared = 0
    while shared < min(len(chosen), len(rejected)) and chosen[shared] == rejected[shared]:
        shared += 1
    while shared and chosen[shared - 1]["role"] != "user":
        shared -= 1
    if not shared:
        raise RowError("rejected", "expected a conversation sharing its opening user turn with 'chosen'")
    return chosen[:shared], chosen[shared:], rejected[shared:]


# --- row converters (one per input layout) -------------------------------------------------------


def preference_row(row: Row) -> Row:
    """Explicit or implicit prompt + chosen/rejected -> conversational prompt/chosen/rejected."""
    if "prompt" in row:
        _present(row, "prompt", "a string or a list of messages")
    # A string prompt beside conversational replies is implicit in them (TRL's maybe_extract_prompt).
    explicit = "prompt" in row and not (
        isinstance(row["prompt"], str) and isinstance(row.get("chosen"), list)
    )
    if explicit:
        prompt, chosen, rejected = (
            to_prompt(row, "prompt"),
            to_reply(row, "chosen"),
            to_reply(row, "rejected"),
        )
    else:
        prompt, chosen, rejected = split_shared_prompt(
            to_conversation(row, "chosen"), to_conversation(row, "rejected")
        )
        _check_reply(chosen, "chosen")
        _check_reply(rejected, "rejected")
    if chosen == rejected:
        raise RowError("rejected", "expected a reply different from 'chosen', got the same reply")
    return {"prompt": prompt, "chosen": chosen, "rejected": rejected}


def _alpaca_prompt(row: Row) -> list[Message]:
    instruction = _present(row, "instruction", "a string")
    if not isinstance(instruction, str):
        raise RowError("instruction", f"expected a string, got {_type_name(instruction)}")
    extra = row.get("input")
    if extra is not None and not isinstance(extra, str):
        raise RowError("input", f"expected a string, got {_type_name(extra)}")
    content = f"{instruction}\n\n{extra}" if extra and extra.strip() else instruction
    return [{"role": "user", "content": content}]


def _alpaca(output_field: str) -> Callable[[Row], Row]:
    def convert(row: Row) -> Row:
        output = _present(row, output_field, "a string")
        if not isinstance(output, str):
            raise RowError(output_field, f"expected a string, got {_type_name(output)}")
        return {"prompt": _alpaca_prompt(row), "completion": [{"role": "assistant", "content": output}]}

    return convert


def _text(*, blank_ok: bool) -> Callable[[Row], Row]:
    def convert(row: Row) -> Row:
        value = row.get("text")
        if not isinstance(value, str) or value == "" or not (blank_ok or value.strip()):
            got = _type_name(value) if not isinstance(value, str) else "an empty string"
            raise RowError("text", f"expected {'a' if blank_ok else 'a non-blank'} string, got {got}")
        return {"text": value}

    return convert


def _sft_messages(field: str) -> Callable[[Row], Row]:
    def convert(row: Row) -> Row:
        value = _present(row, field, "a list of messages")
        if not isinstance(value, list):
            raise RowError(field, f"expected a list of messages, got {_type_name(value)}")
        messages = _check_messages(value, field)
        if not any(m["role"] == "assistant" for m in messages):
            raise RowError(field, "expected a conversation with an assistant turn to learn from, got none")
        return {"messages": messages}

    return convert


def _sft_prompt_completion(row: Row) -> Row:
    return {"prompt": to_prompt(row, "prompt"), "completion": to_reply(row, "completion")}


def _sft_from_preference(row: Row) -> Row:
    pair = preference_row(row)
    return {"prompt": pair["prompt"], "completion": pair["chosen"]}


def _prompt_of(field: str) -> Callable[[Row], Row]:
    return lambda row: {"prompt": to_prompt(row, field, drop_reply=True)}


def _prompt_from_preference(row: Row) -> Row:
    return {"prompt": preference_row(row)["prompt"]}


def _prompt_from_alpaca(row: Row) -> Row:
    return {"prompt": _alpaca_prompt(row)}


# --- detection -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Format:
    """An input layout: the columns it needs and reads, what it produces, and the row converter."""

    name: str
    needs: tuple[str, ...]
    reads: tuple[str, ...]
    outputs: tuple[str, ...]
    convert: Callable[[Row], Row]

    def output_features(self) -> dict[str, Any]:
        return {c: TEXT if c == "text" else MESSAGES for c in self.outputs}

    def dropped(self, columns: list[str]) -> list[str]:
        """Input columns that do not survive: those read, and TRL-read columns not produced."""
        return [c for c in columns if c in self.reads or (c in TRL_COLUMNS and c not in self.outputs)]


_PC, _PAIR = ("prompt", "completion"), ("prompt", "chosen", "rejected")
_ALPACA = ("instruction", "input", "output")

FORMATS: dict[str, list[Format]] = {
    "text": [Format("text", ("text",), ("text",), ("text",), _text(blank_ok=True))],
    "sft": [
        Format("messages", ("messages",), ("messages",), ("messages",), _sft_messages("messages")),
        Format(
            "sharegpt", ("conversations",), ("conversations",), ("messages",), _sft_messages("conversations")
        ),
        Format("prompt-completion", _PC, _PC, _PC, _sft_prompt_completion),
        Format("preference", ("chosen", "rejected"), _PAIR, _PC, _sft_from_preference),
        Format("alpaca", ("instruction", "output"), _ALPACA, _PC, _alpaca("output")),
        Format(
            "alpaca-eval-annotations",
            ("instruction", "output_1"),
            ("instruction", "input", "output_1"),
            _PC,
            _alpaca("output_1"),
        ),
        Format("text", ("text",), ("text",), ("text",), _text(blank_ok=False)),
    ],
    "preference": [Format("preference", ("chosen", "rejected"), _PAIR, _PAIR, preference_row)],
    "prompt": [
        Format("prompt", ("prompt",), ("prompt",), ("prompt",), _prompt_of("prompt")),
        Format("messages", ("messages",), ("messages",), ("prompt",), _prompt_of("messages")),
        Format("sharegpt", ("conversations",), ("conversations",), ("prompt",), _prompt_of("conversations")),
        Format("preference", ("chosen", "rejected"), _PAIR, ("prompt",), _prompt_from_preference),
        Format("alpaca", ("instruction",), ("instruction", "input"), ("prompt",), _prompt_from_alpaca),
        # GSM8K / MATH style: the question is the prompt; `answer` stays a column for the reward functions
        Format("question", ("question",), ("question",), ("prompt",), _prompt_of("question")),
        Format("text", ("text",), ("text",), ("prompt",), _prompt_of("text")),
    ],
}


def detect_format(columns: list[str], kind: str, source: str) -> Format:
    """The first layout of `kind` whose needed columns are all present; AlignpipeError if none is."""
    if kind not in FORMATS:
        raise AlignpipeError(f"unknown data kind {kind!r}; expected one of {', '.join(KINDS)}")
    for fmt in FORMATS[kind]:
        if all(c in columns for c in fmt.needs):
            return fmt
    wanted = " | ".join("+".join(f.needs) for f in FORMATS[kind])
    raise AlignpipeError(
        f"{source}: cannot read it as {kind} data: its columns are {columns}; "
        f"expected one of these column sets: {wanted}"
    )


def describe(fmt: Format, first_row: Row | None) -> str:
    """A one-line name for the detected layout, refined by the first row's value types."""
    name = fmt.name
    if fmt.name == "preference" and first_row is not None:
        prompt, chosen = first_row.get("prompt"), first_row.get("chosen")
        if prompt is not None and not (isinstance(prompt, str) and isinstance(chosen, list)):
            name = "preference, explicit prompt"
        elif is_hh_text(chosen):
            name = "hh-rlhf text, implicit prompt"
        elif prompt is not None:
            name = "preference, prompt extracted from the chosen/rejected conversations (UltraFeedback style)"
        else:
            name = "preference, implicit prompt (chosen/rejected conversations)"
    elif fmt.outputs == ("prompt",) and first_row is not None and is_hh_text(first_row.get(fmt.needs[0])):
        name += " (hh-rlhf text)"
    return f"{name} -> {' + '.join(fmt.outputs)}"
