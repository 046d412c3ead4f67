"""The plugin path: entry points, built-ins as plugins, listing, conflicts."""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fairaudit.errors import PluginError
from fairaudit.plugins import Registry, hookimpl, make_plugin_manager, make_registry
from tests.conftest import base_spec, make_frame

PLUGIN_SRC = Path(__file__).parent / "plugins" / "fairaudit_example_plugin.py"


def _install_plugin(site: Path) -> Path:
    """Lay the plugin out as pip would: the module plus a dist-info with entry points."""
    site.mkdir(parents=True, exist_ok=True)
    shutil.copy(PLUGIN_SRC, site / PLUGIN_SRC.name)
    dist = site / "fairaudit_example_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: fairaudit-example-plugin\nVersion: 1.0\n"
    )
    (dist / "entry_points.txt").write_text("[fairaudit]\nexample = fairaudit_example_plugin\n")
    return site


def test_builtins_are_registered_through_the_hooks(registry: Registry) -> None:
    loaders = {c.name: c for c in registry.components("model_loader")}
    assert {"column", "sklearn", "onnx", "python", "mlflow", "rules"} <= set(loaders)
    assert all(c.provider == "fairaudit.builtins" for c in loaders.values())
    readers = {c.name for c in registry.components("data_reader")}
    assert readers == {"csv", "parquet"}


def test_entry_point_plugin_is_discovered(tmp_path, monkeypatch) -> None:
    site = _install_plugin(tmp_path / "site")
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    registry = make_registry()
    comp = next(c for c in registry.components("model_loader") if c.name == "denial_column")
    assert "fairaudit-example-plugin 1.0" in comp.provider


def test_entry_point_plugin_runs_an_audit_and_is_listed(tmp_path) -> None:
    """A real subprocess of the installed console script, with the plugin on the path."""
    site = _install_plugin(tmp_path / "site")
    df = make_frame()
    df["denied"] = 1 - df["granted"]
    df.to_csv(tmp_path / "data.csv", index=False)
    spec = base_spec()
    spec["model"] = {"loader": "denial_column", "denied": "denied"}
    (tmp_path / "audit.yaml").write_text(yaml.safe_dump(spec))
    exe = shutil.which("fairaudit", path=str(Path(sys.executable).parent))
    assert exe, "the fairaudit console script is installed next to the interpreter"
    env = {**os.environ, "PYTHONPATH": str(site), "COLUMNS": "100"}
    listed = subprocess.run([exe, "plugins"], capture_output=True, text=True, env=env, check=True)
    assert "denial_column" in listed.stdout and "fairaudit-example-plugin" in listed.stdout
    run = subprocess.run(
        [exe, "check", "audit.yaml", "--json", "r.json", "-q"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert run.returncode in (0, 1), run.stderr
    # the same audit with the built-in column loader gives the same counts
    spec["model"] = {"loader": "column", "decision": "granted"}
    (tmp_path / "audit2.yaml").write_text(yaml.safe_dump(spec))
    subprocess.run(
        [exe, "check", "audit2.yaml", "--json", "r2.json", "-q"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
    )
    a = json.loads((tmp_path / "r.json").read_text())
    b = json.loads((tmp_path / "r2.json").read_text())
    assert [g["counts"] for g in a["groups"]] == [g["counts"] for g in b["groups"]]


def test_duplicate_names_are_refused() -> None:
    from fairaudit.models.column import ColumnLoader

    class Clash:
        @hookimpl
        def fairaudit_model_loaders(self):
            return [ColumnLoader]

    with pytest.raises(PluginError, match="two plugins provide a model loader named 'column'"):
        Registry(make_plugin_manager(entry_points=False, plugins=[Clash()]))


def test_broken_plugin_is_a_plugin_error() -> None:
    class Broken:
        @hookimpl
        def fairaudit_model_loaders(self):
            raise ImportError("no module named tensorflow")

    with pytest.raises(PluginError, match="raised ImportError"):
        Registry(make_plugin_manager(entry_points=False, plugins=[Broken()]))


def test_clean_managers_do_not_share_state() -> None:
    class Extra:
        @hookimpl
        def fairaudit_model_loaders(self):
            from fairaudit.models.column import ColumnLoader

            class Other(ColumnLoader):
                name = "other"

            return [Other]

    with_extra = Registry(make_plugin_manager(entry_points=False, plugins=[Extra()]))
    plain = Registry(make_plugin_manager(entry_points=False))
    assert "other" in {c.name for c in with_extra.components()}
    assert "other" not in {c.name for c in plain.components()}
