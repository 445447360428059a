"""The pinned numerical environment: one definition (scripts/numerics.env), carried by the Jupyter kernel every
notebook names, and a perturbed configuration that really changes round-off (else the second nbval pass of
scripts/test.sh would prove nothing)."""

import json
import os
import platform
import subprocess
import sys

import pytest

from scripts import numerics

PINNED = numerics.read_env(numerics.PINNED)
PERTURBED = numerics.read_env(numerics.PERTURBED)


def test_the_pinned_environment_fixes_kernels_threads_and_frameworks() -> None:
    for key in ["OPENBLAS_CORETYPE", "NPY_DISABLE_CPU_FEATURES", "ATEN_CPU_CAPABILITY", "OMP_NUM_THREADS",
                "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "TF_ENABLE_ONEDNN_OPTS", "TF_CPP_MIN_LOG_LEVEL"]:
        assert key in PINNED, key
    assert PINNED["OMP_NUM_THREADS"] == PINNED["OPENBLAS_NUM_THREADS"] == "1"


def test_the_perturbed_configuration_changes_only_pinned_settings_and_each_one() -> None:
    assert set(PERTURBED) <= set(PINNED)
    assert all(PERTURBED[key] != PINNED[key] for key in PERTURBED)


def test_read_env_refuses_a_line_it_cannot_read(tmp_path) -> None:
    bad = tmp_path / "bad.env"
    bad.write_text('# fine\nOK=1\nQUOTED="a b"\n')
    with pytest.raises(ValueError, match=r"bad.env:3: expected KEY=value"):
        numerics.read_env(bad)


def test_the_installed_kernel_carries_the_pinned_environment() -> None:
    path = os.path.join(sys.prefix, "share", "jupyter", "kernels", numerics.KERNEL_NAME, "kernel.json")
    if not os.path.exists(path):
        pytest.fail(f"{path} is missing: scripts/setup.sh installs it")
    with open(path) as spec:
        kernel = json.load(spec)
    assert kernel["env"] == {**PINNED, "MPLCONFIGDIR": str(numerics.MATPLOTLIB_CONFIG)}
    assert any(numerics.MATPLOTLIB_CONFIG.glob("fontlist-*.json")), "no font cache: scripts/setup.sh builds it"
    assert kernel["argv"][0] == sys.executable


def test_the_scripts_and_the_kernel_read_the_same_files() -> None:
    shared = (numerics.HERE / "numerics.sh").read_text()
    assert "source scripts/numerics.env" in shared and "source scripts/numerics-perturbed.env" in shared
    assert f'MPLCONFIGDIR="$PWD/.venv/{numerics.MATPLOTLIB_CONFIG.name}"' in shared
    test_sh = (numerics.HERE / "test.sh").read_text()
    assert "source scripts/numerics.sh\n" in test_sh and "source scripts/numerics.sh perturbed\n" in test_sh


PROBE = """
import hashlib, numpy as np, torch
rng = np.random.default_rng(0)
a, b = rng.normal(size=(60, 100)), rng.normal(size=(100, 100))
t = torch.from_numpy(a).float()
print(hashlib.sha256(np.exp(a).tobytes() + (a @ b).tobytes() + torch.tanh(t @ t.T).numpy().tobytes()).hexdigest())
"""


def _probe(settings: dict[str, str]) -> str:
    env = {**os.environ, **settings}
    return subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True).stdout


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="the settings name x86-64 kernels")
def test_the_perturbed_configuration_changes_round_off() -> None:
    pinned = _probe(PINNED)
    assert _probe(PINNED) == pinned  # the probe itself is repeatable
    assert _probe({**PINNED, **PERTURBED}) != pinned


def test_a_kernel_started_by_name_runs_under_the_pinned_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # What nbval, `jupyter execute` and JupyterLab do with the notebooks' kernel name; the caller's own
    # environment (here: the perturbed one) must not leak into the kernel.
    from jupyter_client.manager import start_new_kernel

    for key, value in PERTURBED.items():
        monkeypatch.setenv(key, value)
    manager, client = start_new_kernel(kernel_name=numerics.KERNEL_NAME)
    try:
        seen: list[str] = []
        code = "import os, json; print(json.dumps({k: os.environ.get(k) for k in %r}))" % sorted(PINNED)
        client.execute_interactive(code, output_hook=lambda msg: seen.append(msg["content"].get("text", "")))
        assert json.loads("".join(seen)) == {key: PINNED[key] for key in sorted(PINNED)}
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
