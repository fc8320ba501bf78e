"""Model definitions. `register()` makes MiniGPT known to the Transformers Auto classes."""

import importlib.abc
import importlib.util
import sys

_registered = False


def register() -> None:
    global _registered
    if _registered:
        return
    being_imported = sys.modules.get("alignpipe.models.minigpt")
    if being_imported is not None and not hasattr(being_imported, "__all__"):
        return  # transformers finished loading inside minigpt.py's own imports: its last line registers
    _registered = True
    from alignpipe.models.minigpt import register_auto_classes

    register_auto_classes()


class _AfterTransformers(importlib.abc.MetaPathFinder):
    """Runs `register()` right after the `transformers` package finishes importing.

    Availability checks (`importlib.util.find_spec("transformers")`, as accelerate and TRL do) also ask
    this finder; only the import that executes the module registers, and then the finder removes itself.
    """

    _busy = False

    def find_spec(self, name, path=None, target=None):
        if name != "transformers" or self._busy:
            return None
        self._busy = True
        try:
            spec = importlib.util.find_spec(name)
        finally:
            self._busy = False
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        exec_module = spec.loader.exec_module

        def exec_then_register(module):
            exec_module(module)
            if self in sys.meta_path:
                sys.meta_path.remove(self)
            register()

        spec.loader.exec_module = exec_then_register
        return spec


def register_when_transformers_loads() -> None:
    if "transformers" in sys.modules:
        register()
    elif not any(isinstance(f, _AfterTransformers) for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterTransformers())
