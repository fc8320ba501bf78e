"""`alignpipe chat MODEL`: talk to a model in the terminal, its reply streamed token by token.

    alignpipe chat runs/minigpt/dpo
    alignpipe chat runs/minigpt/dpo --guard runs/guard --preset greedy
    alignpipe chat Qwen/Qwen2.5-0.5B-Instruct --load-in-4bit --system "Answer briefly."

Every turn is rendered with the model's chat template (a tokenizer without one gets the turns joined as
plain text, with a note). Commands: ``/reset`` (or ``/clear``) forgets the conversation, ``/system TEXT``
sets the system prompt (and resets), ``/save FILE`` writes the whole conversation as JSON (``/save! FILE``
replaces an existing file), ``/help``, ``/exit`` (or Ctrl-D). Ctrl-C stops a reply early and keeps what was said. The history is kept within the model's
context: when the next prompt and ``--max-new-tokens`` do not fit, the oldest exchanges leave the model's view,
with a note (``/save`` still writes them, marked ``"trimmed": true``); a single message too long for the context is refused and not kept. With ``--guard DIR`` a prompt the
guard flags is answered with a refusal, the model is not called, and the reason is shown.

Sampling: `alignpipe.serve.sampling` (preset ``balanced`` by default: temperature 0.7, top-p 0.9).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import TYPE_CHECKING

from alignpipe.core.errors import AlignpipeError
from alignpipe.core.io import output_file, write_text
from alignpipe.core.log import echo
from alignpipe.serve.sampling import add_sampling_args, describe, settings_from_args
from alignpipe.serve.session import add_model_args, check_model_args

if TYPE_CHECKING:  # torch loads with the model, not for --help or a bad flag
    from alignpipe.inference.generation import GenerationSettings
    from alignpipe.serve.session import Session

HELP = """commands:
  /reset, /clear   forget the conversation (the system prompt stays)
  /system TEXT     set the system prompt and start over (/system alone clears it)
  /save FILE       write the whole conversation to FILE as JSON (/save! FILE replaces an existing file)
  /help            this list
  /exit, /quit     leave (or Ctrl-D)"""


class TextStream:
    """Writes the reply's text as tokens arrive (never half a UTF-8 character) and notes when the first
    token came. `generate` hands it the prompt first, then each new token (a streamer: `put`, `end`)."""

    def __init__(self, tokenizer, out, stops: list[int]):
        self.tokenizer, self.out, self.stops = tokenizer, out, set(stops)
        self.tokens: list[int] = []
        self.shown = ""
        self.prompt_seen = False
        self.first_token_at: float | None = None

    def put(self, value) -> None:  # a tensor of token ids
        if not self.prompt_seen:
            self.prompt_seen = True
            return
        if self.first_token_at is None:
            self.first_token_at = time.perf_counter()
        self.tokens += [t for t in value.reshape(-1).tolist() if t not in self.stops]
        text = self.tokenizer.decode(self.tokens, skip_special_tokens=True)
        if text.endswith("\ufffd"):  # a character split across tokens: wait for the rest
            return
        self.out.write(text[len(self.shown) :])
        self.out.flush()
        self.shown = text

    def end(self) -> None:
        pass


class Chat:
    """One conversation with a loaded model: history, context fitting, guard, streamed replies."""

    def __init__(
        self,
        session: Session,
        settings: GenerationSettings,
        system: str | None,
        *,
        seed: int = 0,
        out=sys.stdout,
    ):
        self.session, self.settings, self.system, self.out = session, settings, system, out
        self.seed = seed  # reply k samples with seed + k: the same conversation gives the same replies
        from alignpipe.inference.generation import pad_id, stop_token_ids

        tok, model = session.lm.tokenizer, session.lm.model
        self.stops = stop_token_ids(model, tok)
        self.config = settings.generation_config(self.stops, pad_id(tok))
        self.turns: list[dict] = []  # what the model sees: the newest exchanges that fit its context
        self.transcript: list[dict] = []  # everything said since the last /reset: what /save writes
        self.replies = 0
        self.last_first_token_s: float | None = None

    def messages(self, turns: list[dict] | None = None) -> list[dict]:
        system = [{"role": "system", "content": self.system}] if self.system else []
        return system + (self.turns if turns is None else turns)

    def say(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def fit(self, turns: list[dict]) -> tuple[list[int] | None, int]:
        """The prompt's tokens for `turns` with the oldest exchanges dropped until the reply fits the
        context; (None, tokens) when the newest message alone does not fit."""
        limit = self.session.context
        dropped = 0
        while True:
            ids = self.session.prompt_ids(self.messages(turns))
            if limit is None or len(ids) + self.settings.max_new_tokens <= limit:
                return ids, dropped
            if len(turns) <= 1:
                return None, len(ids)
            turns[:] = turns[2:] if turns[0]["role"] == "user" and len(turns) > 2 else turns[1:]
            dropped += 1

    def keep(self, *messages: dict) -> None:
        self.transcript += messages

    def saved(self) -> list[dict]:
        """The whole conversation: the system prompt, the turns trimmed from the model's view (marked), the rest."""
        trimmed = len(self.transcript) - len(self.turns)
        old = [{**m, "trimmed": True} for m in self.transcript[:trimmed]]
        system = [{"role": "system", "content": self.system}] if self.system else []
        return system + old + self.transcript[trimmed:]

    def reply(self, text: str) -> str | None:
        """Answer one user message (streamed to `out`); None when it could not be answered."""
        import torch

        from alignpipe.inference.guard import REFUSAL

        guard = self.session.guard
        if guard is not None:
            verdict = guard.screen([text])[0]
            if verdict.flagged:
                self.say(REFUSAL)
                self.say(
                    f"[guard: flagged as unsafe, P(unsafe) = {verdict.score:.2f}; the model was not called]"
                )
                exchange = [{"role": "user", "content": text}, {"role": "assistant", "content": REFUSAL}]
                self.turns += exchange
                self.keep(*exchange)
                return REFUSAL
        turns = [*self.turns, {"role": "user", "content": text}]
        ids, dropped = self.fit(turns)
        limit = self.session.context
        if ids is None:
            self.say(
                f"[that message is {dropped} tokens; with --max-new-tokens {self.settings.max_new_tokens} it does "
                f"not fit the model's context of {limit} tokens: shorten it or lower --max-new-tokens]"
            )
            return None
        if dropped:
            self.say(f"[dropped the oldest {dropped} turn(s) to stay within the {limit}-token context]")
        self.turns = turns
        self.keep(turns[-1])
        model = self.session.lm.model
        device = next(model.parameters()).device
        stream = TextStream(self.session.lm.tokenizer, self.out, self.stops)
        input_ids = torch.tensor([ids], device=device)
        started = time.perf_counter()
        interrupted = False
        torch.manual_seed(self.seed + self.replies)
        self.replies += 1
        try:
            with torch.no_grad():
                model.generate(
                    input_ids=input_ids,
                    attention_mask=torch.ones_like(input_ids),
                    generation_config=self.config,
                    streamer=stream,
                )
        except KeyboardInterrupt:
            interrupted = True
        self.last_first_token_s = None if stream.first_token_at is None else stream.first_token_at - started
        answer = self.session.lm.tokenizer.decode(stream.tokens, skip_special_tokens=True)
        self.out.write("\n")
        if interrupted:
            self.say("[stopped]")
        elif len(stream.tokens) >= self.settings.max_new_tokens:
            self.say(f"[cut at --max-new-tokens {self.settings.max_new_tokens}]")
        self.turns.append({"role": "assistant", "content": answer})
        self.keep(self.turns[-1])
        return answer

    def command(self, line: str) -> bool:
        """Run a /command; False when the chat should end."""
        name, _, arg = line.strip().partition(" ")
        if name in ("/exit", "/quit"):
            return False
        if name in ("/reset", "/clear"):
            self.turns, self.transcript = [], []
            self.say("[conversation cleared]")
        elif name == "/system":
            self.system = arg.strip() or None
            self.turns, self.transcript = [], []
            self.say(f"[system prompt set: {self.system}]" if self.system else "[system prompt cleared]")
        elif name in ("/save", "/save!"):
            if not arg.strip():
                self.say("[usage: /save FILE, or /save! FILE to replace an existing file]")
            else:
                try:
                    path = output_file(arg.strip(), "/save", overwrite=name == "/save!", flag="/save! FILE")
                    messages = self.saved()
                    write_text(path, json.dumps(messages, indent=2, ensure_ascii=False) + "\n")
                    trimmed = sum(1 for m in messages if m.get("trimmed"))
                    note = f", {trimmed} of them trimmed from the model's view" if trimmed else ""
                    self.say(f"[saved {len(messages)} messages to {path}{note}]")
                except AlignpipeError as e:
                    self.say(f"[{e}]")
                except OSError as e:
                    self.say(f"[cannot write {arg.strip()}: {e.strerror}]")
        elif name == "/help":
            self.say(HELP)
        else:
            self.say(f"[unknown command {name}; /help lists them]")
        return True


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="alignpipe chat",
        description="Chat with a model in the terminal (streamed replies, the model's chat template).",
        epilog=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_model_args(p)
    p.add_argument("--system", help="a system prompt")
    add_sampling_args(p, max_new_tokens=64)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    check_model_args(args)
    settings = settings_from_args(args, batch_size=1)
    from transformers.utils import logging as hf_logging

    from alignpipe.serve.session import open_session

    hf_logging.disable_progress_bar()  # a terminal session: the banner says what loaded, and how fast
    session = open_session(args)
    chat = Chat(session, settings, args.system, seed=args.seed)
    info = session.lm.info
    context = f", context {session.context} tokens" if session.context else ""
    echo(
        f"alignpipe chat: {args.model} ({info['architecture']}, {info['parameters']:,} parameters{context}), "
        f"loaded in {session.load_s:.1f} s"
    )
    echo(
        f"sampling: {describe(settings)}; seed {args.seed}" + (f"; guard: {args.guard}" if args.guard else "")
    )
    if not session.lm.tokenizer.chat_template:
        echo("note: this tokenizer has no chat template; turns are joined as plain text")
    echo("type a message; /help for commands, /exit or Ctrl-D to leave")
    try:
        import readline  # noqa: F401  (line editing and history for input())
    except ImportError:
        pass
    while True:
        try:
            line = input(">>> ")
        except EOFError:
            echo("")
            break
        except KeyboardInterrupt:
            echo("")
            continue
        if not line.strip():
            continue
        if line.startswith("/"):
            if not chat.command(line):
                break
            continue
        chat.reply(line)
    return 0
