"""The course's numerical environment (``scripts/numerics.env``), read once for everything that runs notebooks.

``python scripts/numerics.py install-kernel`` (run by ``scripts/setup.sh`` with the ``.venv`` interpreter)
installs the Jupyter kernel ``bncourse`` into that environment, with the settings in its ``kernel.json``:
every notebook names that kernel in its metadata, so nbval, ``jupyter execute`` and a reader's Jupyter
all run the chapters under the same settings. A kernel spec's ``env`` overrides the caller's environment,
which is why the perturbed nbval pass runs in the current environment instead.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PINNED = HERE / "numerics.env"
PERTURBED = HERE / "numerics-perturbed.env"
KERNEL_NAME = "bncourse"
# Matplotlib's font cache lives in the environment, built once by install-kernel: a cache shared through
# $HOME can point at fonts of another (deleted) environment, and a first build logs a warning to stderr;
# either would land in a notebook's output.
MATPLOTLIB_CONFIG = Path(sys.prefix) / "matplotlib"
KERNEL_DISPLAY_NAME = "Python 3 (bncourse, pinned numerics)"


def read_env(path: Path) -> dict[str, str]:
    """The ``KEY=value`` lines of an env file (``#`` comments and blank lines skipped), in order."""
    settings: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.isidentifier() or any(c in value for c in " \"'$`"):
            raise ValueError(f"{path}:{number}: expected KEY=value without quotes or spaces, got {line!r}")
        settings[key] = value
    return settings


def kernel_spec() -> dict[str, object]:
    """The ``kernel.json`` of the ``bncourse`` kernel: this interpreter, with the pinned settings."""
    return {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": KERNEL_DISPLAY_NAME,
        "language": "python",
        "env": {**read_env(PINNED), "MPLCONFIGDIR": str(MATPLOTLIB_CONFIG)},
        "metadata": {"debugger": True},
    }


def build_font_cache() -> None:
    """Build Matplotlib's font cache in :data:`MATPLOTLIB_CONFIG` now, so no notebook cell has to."""
    env = {**os.environ, "MPLCONFIGDIR": str(MATPLOTLIB_CONFIG)}
    code = "import matplotlib.font_manager as f; f._load_fontmanager(try_read_cache=False)"
    subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True)


def install_kernel(prefix: Path = Path(sys.prefix)) -> Path:
    """Write the kernel spec under ``prefix/share/jupyter/kernels/bncourse/`` and return its path."""
    build_font_cache()
    path = prefix / "share" / "jupyter" / "kernels" / KERNEL_NAME / "kernel.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(kernel_spec(), indent=1) + "\n")
    return path


if __name__ == "__main__":
    if sys.argv[1:] != ["install-kernel"]:
        sys.exit("usage: python scripts/numerics.py install-kernel")
    print(f"setup: Jupyter kernel '{KERNEL_NAME}' with the pinned numerics at {install_kernel()}")
