"""`alignpipe` console script: one subcommand per stage or tool.

Each subcommand lives in its own module and is imported only when called, so
`alignpipe plan` does not pay for importing torch and TRL. A subcommand module
exposes `main(argv: list[str] | None) -> int | None`. A training stage's `--help` and bad flags are answered
from its remembered options (`alignpipe.core.options`) before its module, and so TRL, is imported.
"""

from __future__ import annotations

import importlib
import sys

from alignpipe.core.log import echo, say_error
from alignpipe.core.registry import BY_NAME, COMMANDS  # the stages' rows, then the other commands


def _usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: alignpipe COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name:<{width}}  {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", "Run `alignpipe COMMAND --help` for a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        echo(_usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        echo(f"alignpipe: unknown command {name!r}\n\n{_usage()}", err=True)
        return 2
    from alignpipe.core.errors import AlignpipeError, run_cli

    if name in BY_NAME:  # a stage: its remembered options answer --help and bad flags before TRL loads
        from alignpipe.core.options import precheck

        try:
            if precheck(name, rest):
                return 0  # the help, printed
        except AlignpipeError as e:
            say_error(f"alignpipe: error: {e}")
            return 2
    module = importlib.import_module(COMMANDS[name][0])
    return run_cli(module.main, rest)  # each command names itself (`prog`) in its usage and errors


if __name__ == "__main__":
    sys.exit(main())
