"""The application layer's extension points: option flags generated from the solvers, solvers from files, plug-ins.

Every run is tiny and writes under ``tmp_path``.
"""

from __future__ import annotations

import dataclasses
import json
import textwrap

import pytest

import problems
import solvers
from cli_helpers import cli, error_line
from physopt._registry import Registry
from physopt.cli import build_parser

TINY = ["--steps", "2", "--points", "16", "--boundary-points", "8", "--width", "4", "--depth", "1",
        "--optimizer", "adam", "--no-progress", "--no-render"]

SOLVER_FILE = textwrap.dedent(
    '''
    """A solver in a user's file: a PINN under another class name."""
    from solvers import PINN

    class FilePINN(PINN):
        """A PINN loaded from a file."""
    '''
)


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def _subparser(name: str):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return sub.choices[name]


# ----- flags generated from the solvers' options ----------------------------------------------


@pytest.mark.parametrize("command", ["solve", "convergence"])
def test_every_option_of_every_solver_is_a_flag_with_its_help(command):
    actions = {a.option_strings[-1]: a for a in _subparser(command)._actions if a.option_strings}
    for name, cls in solvers.registered_solvers().items():
        for option, text in cls.Options.help_texts().items():
            flag = "--" + option.replace("_", "-")
            assert flag in actions, f"{name} option {option} has no flag {flag}"
            assert text.replace("%", "%%") in actions[flag].help, f"{flag}'s help lacks {name}'s text {text!r}"
            if len([s for s, c in solvers.registered_solvers().items() if option in c.Options.field_types()]) > 1:
                assert f"{name}" in actions[flag].help


def test_help_groups_the_flags_per_solver(capsys):
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["solve", "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert "pinn options:" in text and "teng options:" in text and "options of several solvers:" in text
    described = [line.split()[0] for line in text.splitlines() if line.startswith("  --")]
    assert described.count("--dt") == 1 and described.count("--width") == 1  # an option appears once
    flat = " ".join(text.split())
    assert "--set OPTION=VALUE" in flat and "a solver loaded from a file" in flat


def test_flag_of_another_solver_is_one_line_naming_who_takes_it(capsys, tmp_path):
    code, out, err = cli(capsys, "solve", "poisson2d", "--dt", "0.01", *TINY, "--out", tmp_path / "run")
    assert code == 2 and out == ""
    assert error_line(err) == "physopt: error: --dt: solver 'pinn' has no option dt; it is an option of teng (--solver teng)"
    assert not (tmp_path / "run").exists()


def test_option_errors_name_the_flag(capsys, tmp_path):
    code, _, err = cli(capsys, "solve", "poisson2d", *TINY, "--width", "0", "--out", tmp_path / "run")
    assert code == 2
    assert error_line(err) == "physopt: error: --width: option width must be >= 1, got 0"
    code, _, err = cli(capsys, "solve", "poisson2d", *TINY, "--set", "depth=0", "--out", tmp_path / "run")
    assert code == 2
    assert error_line(err) == "physopt: error: --set depth: option depth must be >= 1, got 0"
    code, _, err = cli(capsys, "solve", "poisson2d", *TINY, "--jets", "maybe", "--out", tmp_path / "run")
    assert code == 2
    assert error_line(err) == "physopt: error: --jets: option jets='maybe' must be a bool"


def test_flags_reach_the_solver_as_text_through_from_strings(capsys, tmp_path):
    code, _, err = cli(capsys, "solve", "poisson2d", *TINY, "--jets", "false", "--lr", "0.02", "--out", tmp_path / "run")
    assert code == 0, err
    options = json.loads((tmp_path / "run" / "config.json").read_text())["options"]
    assert options["jets"] is False and options["lr"] == 0.02 and options["steps"] == 2


# ----- solvers from a file ----------------------------------------------------------------------


def test_solver_from_a_file(capsys, tmp_path):
    (tmp_path / "my_solver.py").write_text(SOLVER_FILE)
    code, out, err = cli(capsys, "solve", "poisson2d", "--solver", "my_solver.py:FilePINN", *TINY,
                         "--set", "seed=3", "--out", tmp_path / "run")
    assert code == 0, err
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert summary["solver"] == config["solver"] == "my_solver.py:FilePINN"
    assert config["options"]["seed"] == 3 and summary["status"] == "finished" and summary["metrics"] == {}
    assert solvers.resolve_solver(str(tmp_path / "my_solver.py")).__name__ == "FilePINN"


def test_solver_file_default_out_is_named_after_the_file(capsys, tmp_path):
    (tmp_path / "my_solver.py").write_text(SOLVER_FILE)
    code, _, err = cli(capsys, "solve", "poisson2d", "--solver", "my_solver.py", *TINY)
    assert code == 0, err
    (run,) = (tmp_path / "runs").iterdir()
    assert run.name.startswith("poisson2d-my_solver-")


@pytest.mark.parametrize(
    "source, argv, phrases",
    [
        pytest.param(SOLVER_FILE, ["--dt", "0.1"], ["--dt: solver 'my_solver.py' has no option dt", "teng"], id="foreign-flag"),
        pytest.param("x = 1\nraise RuntimeError('boom')\n", [],
                     ["solver file 'my_solver.py' failed to import (line 2): RuntimeError: boom"], id="raises"),
        pytest.param("x = 1\n", [], ["defines no AbstractSolver subclass", "class MySolver(AbstractSolver)"], id="empty"),
        pytest.param(SOLVER_FILE, ["--set", "nosuch=1"], ["unknown option 'nosuch'"], id="unknown-set"),
    ],
)
def test_bad_solver_file_is_one_line(capsys, tmp_path, source, argv, phrases):
    (tmp_path / "my_solver.py").write_text(source)
    code, out, err = cli(capsys, "solve", "poisson2d", "--solver", "my_solver.py", *TINY, *argv, "--out", tmp_path / "run")
    assert code == 2 and out == ""
    line = error_line(err)
    for phrase in phrases:
        assert phrase in line, f"{phrase!r} not in {line!r}"
    assert not (tmp_path / "run").exists()


def test_missing_solver_file(capsys, tmp_path):
    code, _, err = cli(capsys, "solve", "poisson2d", "--solver", "nowhere/s.py:S", *TINY, "--out", tmp_path / "run")
    assert code == 2 and "solver file 'nowhere/s.py' does not exist" in error_line(err)


# ----- plug-ins through entry points --------------------------------------------------------------


@dataclasses.dataclass
class _FakeEntryPoint:
    name: str
    value: str
    target: object = None

    def load(self):
        if self.target is None:
            raise ImportError(f"No module named '{self.value.split(':')[0]}'")
        return self.target


def _fake_entry_points(monkeypatch, group: str, entries: list) -> None:
    import physopt._registry

    real = physopt._registry.entry_points

    def fake(group=None, **kwargs):
        return entries if group == wanted else real(group=group, **kwargs)

    wanted = group
    monkeypatch.setattr(physopt._registry, "entry_points", fake)


def test_a_broken_problem_plugin_is_reported_with_its_error(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(problems.PROBLEMS, "broken", {})
    _fake_entry_points(monkeypatch, "physopt.problems", [_FakeEntryPoint("wavy", "wavy_pkg:Wavy")])
    code, out, _ = cli(capsys, "list", "problems")
    assert code == 0
    assert "wavy" in out and "plug-in failed to load: ImportError: No module named 'wavy_pkg'" in out
    assert "poisson2d" in out  # the others still load
    code, _, err = cli(capsys, "solve", "wavy", *TINY, "--out", tmp_path / "run")
    assert code == 2
    assert error_line(err) == "physopt: error: the problem plug-in 'wavy' failed to load: ImportError: No module named 'wavy_pkg'"


def test_a_working_solver_plugin_gets_flags_and_runs(capsys, monkeypatch, tmp_path):
    @dataclasses.dataclass
    class SmallOptions(solvers.PINNOptions):
        smoothing: float = solvers.option(0.5, "a plug-in's own option")

    class Plugged(solvers.PINN):
        """A plug-in solver."""

        Options = SmallOptions

    monkeypatch.setattr(solvers.SOLVERS, "broken", {})
    _fake_entry_points(monkeypatch, "physopt.solvers", [_FakeEntryPoint("plugged", "pkg:Plugged", Plugged),
                                                        _FakeEntryPoint("broken", "gone:Solver")])
    code, out, _ = cli(capsys, "list", "solvers")
    assert "plugged" in out and "A plug-in solver." in out and "broken" in out and "ImportError" in out
    help_ = {a.option_strings[-1]: a.help for a in _subparser("solve")._actions if a.option_strings}
    assert "a plug-in's own option" in help_["--smoothing"]
    code, _, err = cli(capsys, "solve", "poisson2d", "--solver", "plugged", "--smoothing", "0.25", *TINY, "--out", tmp_path / "run")
    assert code == 0, err
    assert json.loads((tmp_path / "run" / "config.json").read_text())["options"]["smoothing"] == 0.25
    code, _, err = cli(capsys, "solve", "poisson2d", "--smoothing", "0.25", *TINY, "--out", tmp_path / "run2")
    assert code == 2 and "--smoothing: solver 'pinn' has no option smoothing; it is an option of plugged" in error_line(err)
    code, _, err = cli(capsys, "solve", "poisson2d", "--solver", "broken", *TINY, "--out", tmp_path / "run3")
    assert code == 2 and "the solver plug-in 'broken' failed to load: ImportError" in error_line(err)


def test_registry_keeps_broken_plugins_apart():
    class Base:
        pass

    registry = Registry("widget", Base)

    @registry.register("good")
    class Good(Base):
        pass

    assert dict(registry) == {"good": Good} and registry.broken == {}
