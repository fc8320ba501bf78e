"""`python -m alignpipe.stages`: build every training stage's parser once, so that its options are remembered
(`alignpipe.core.options`) and `alignpipe STAGE --help` or a bad flag is answered without importing TRL.
`make` runs it after installing; a stage run remembers its own parser anyway."""

from __future__ import annotations

import contextlib
import importlib
import io

from alignpipe.core.options import remembered
from alignpipe.core.registry import STAGES


def main() -> int:
    for stage in STAGES:
        if not stage.trains or remembered(stage.name) is not None:
            continue  # the training stages are the ones that parse with TRL's parser
        module = importlib.import_module(stage.module)
        with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
            module.main(["--help"])  # builds the parser (which remembers itself), prints help, exits
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
