"""The code a logged model carries: `frontends/` and `models/` under one uniquely named package.

    bundle = model_bundle()                  # Bundle(name="_specsweep_model_3f2a9c01b7e4", path=...)
    portable = bundle.rebase(scorer)         # the same scorer, its classes from the bundle
    mlflow.pytorch.log_model(portable, code_paths=[str(bundle.path)], ...)

A model pickled with specsweep's own classes names them `models.scoring.ClipScorer`,
`frontends.frontend.Frontend`: loading it needs importable top-level packages of those names,
and MLflow puts the model's code folder first on `sys.path`, where it shadows (or is shadowed
by) a user's own `models` package. So the model carries a copy of both packages inside
`_specsweep_model_<hash>/`, with their absolute imports rewritten (`from models.config` ->
`from _specsweep_model_<hash>.models.config`; relative imports need nothing), and the scorer is
re-pickled with its classes from the copy. The hash is that of the copied code: two models of
the same code share it, two of different code load side by side in one process, and a user's
`models`, `frontends`, `reports` and `runner` are never touched (docs/design.md, "Self-contained
logged models").
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import importlib
import importlib.util
import io
import pickle
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

PREFIX = "_specsweep_model_"
PACKAGES = ("frontends", "models")  # what a scorer's pickle names (timm and torch are installed)
PLACEHOLDER = "_specsweep_model_NAME"
# `from frontends...` / `from models...` at the start of a line (relative imports stay as they are).
_FROM = re.compile(rf"^(\s*)from\s+({'|'.join(PACKAGES)})\b", re.MULTILINE)
_IMPORT = re.compile(rf"^\s*import\s+({'|'.join(PACKAGES)})\b", re.MULTILINE)
_INIT = '"""specsweep\'s frontends and models, as carried by a logged model (runner/tracking/bundle.py)."""\n'


@dataclass(frozen=True)
class Bundle:
    name: str  # the package name, _specsweep_model_<hash>
    path: Path  # the package folder (what `code_paths` gets)

    def rebase(self, obj):
        """A copy of `obj` whose frontends/models classes are the bundle's."""
        data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        return _Rebase(io.BytesIO(data), self.name).load()


class _Rebase(pickle.Unpickler):
    def __init__(self, file, name: str):
        super().__init__(file)
        self.name = name

    def find_class(self, module: str, name: str):
        if module.split(".", 1)[0] in PACKAGES:
            module = f"{self.name}.{module}"
        return super().find_class(module, name)


def sources() -> dict[str, str]:
    """Relative path (frontends/config.py, ...) -> source with the placeholder package name."""
    import frontends
    import models

    out: dict[str, str] = {}
    for package in (frontends, models):
        root = Path(package.__file__).parent
        for file in sorted(root.rglob("*.py")):
            relative = file.relative_to(root.parent).as_posix()
            out[relative] = rewrite(file.read_text(encoding="utf-8"), PLACEHOLDER, relative)
    return out


def rewrite(source: str, name: str, where: str = "source") -> str:
    """`source` with its absolute imports of frontends/models taken from package `name`."""
    if match := _IMPORT.search(source):
        # `import models` would bind the bundle's top-level name, not `models`: keep it out.
        raise RuntimeError(
            f"{where}: `{match.group(0).strip()}`; write `from {match.group(1)} import ...` "
            "so a logged model can carry the code (runner/tracking/bundle.py)"
        )
    return _FROM.sub(lambda m: f"{m.group(1)}from {name}.{m.group(2)}", source)


@functools.cache
def model_bundle() -> Bundle:
    """The bundle of the running code, written once per process to a temporary folder (removed
    at exit) and imported under its unique name."""
    files = sources()
    digest = hashlib.sha256()
    for relative, text in files.items():
        digest.update(relative.encode() + b"\0" + text.encode() + b"\0")
    name = PREFIX + digest.hexdigest()[:12]
    root = Path(tempfile.mkdtemp(prefix="specsweep-bundle-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    path = root / name
    for relative, text in files.items():
        target = path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text.replace(PLACEHOLDER, name), encoding="utf-8")
    (path / "__init__.py").write_text(_INIT, encoding="utf-8")
    _import(name, path)
    return Bundle(name, path)


def _import(name: str, path: Path) -> None:
    """Import the bundle as package `name` from `path` (no sys.path entry), with every module in
    it, so later lazy imports never need the folder again."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, path / "__init__.py", submodule_search_locations=[str(path)]
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    for file in sorted(path.rglob("*.py")):
        parts = file.relative_to(path).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts:
            importlib.import_module(".".join((name, *parts)))


class PytorchFlavor:
    """mlflow.pytorch's `save_model`, with the `python_function` flavour's loader switched to the
    bundle's `models.serving` (windows, dtypes, class-named output). `Model.log(flavor=...)`
    calls `save_model(path=..., mlflow_model=..., **kwargs)`; the pytorch flavour is untouched."""

    __name__ = "mlflow.pytorch"  # what MLflow records as the logged model's flavour

    def __init__(self, bundle: Bundle):
        self.bundle = bundle

    def save_model(self, path, mlflow_model, **kwargs) -> None:
        import mlflow.pytorch
        from mlflow.pyfunc import FLAVOR_NAME

        mlflow.pytorch.save_model(path=path, mlflow_model=mlflow_model, **kwargs)
        mlflow_model.flavors[FLAVOR_NAME]["loader_module"] = f"{self.bundle.name}.models.serving"
        mlflow_model.save(str(Path(path) / "MLmodel"))
