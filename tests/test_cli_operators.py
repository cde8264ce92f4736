"""The command line for operator learning: solve a problem family, predict new inputs, generate datasets."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cli_helpers import cli, error_line

TINY_FNO = ["--solver", "fno", "--set", "train=16", "--set", "test=4", "--set", "resolution=16", "--set", "epochs=2",
            "--set", "batch_size=8", "--set", "modes=4", "--set", "width=8", "--set", "train_resolution=0", "--no-progress"]


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("PHYSOPT_DATA_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_solve_a_family_writes_an_operator_run(capsys, tmp_path, data_dir):
    run = tmp_path / "run"
    code, out, err = cli(capsys, "solve", "darcy2d", *TINY_FNO, "--out", run)
    assert code == 0, err
    assert "test relative L2 mean" in out and "(4 draws)" in out
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["reference"] == "classical solutions of the test draws"
    errors = summary["errors"]
    assert errors["rel_l2_median"] <= errors["rel_l2_worst"] and errors["test_draws"] == 4
    assert summary["metrics"]["rel_l2_train_resolution"] is not None
    for name in ("operator.npz", "operator_examples.png", "operator_errors.png", "loss.png", "model.pt", "config.json"):
        assert (run / name).is_file(), name
    with np.load(run / "operator.npz") as f:
        assert f["inputs"].shape == (3, 16, 16) and f["errors"].shape == (4,)
    assert len(list(data_dir.glob("darcy2d-s16-*.h5"))) == 1  # generated once, cached
    code, out, _ = cli(capsys, "plot", run, "--kind", "solution", "--out", tmp_path / "pictures")
    assert code == 0 and (tmp_path / "pictures" / "operator_examples.png").is_file()


def test_predict_answers_new_inputs_and_never_overwrites(capsys, tmp_path, data_dir):
    run = tmp_path / "run"
    assert cli(capsys, "solve", "burgers1d_operator", *TINY_FNO, "--out", run)[0] == 0
    data = tmp_path / "new.h5"
    code, out, err = cli(capsys, "data", "generate", "burgers1d_operator", "--samples", "0", "--test", "3",
                         "--resolution", "32", "--seed", "5", "--out", data)
    assert code == 0, err and "dataset:" in out
    code, out, err = cli(capsys, "predict", run, "--input", data, "--out", tmp_path / "p.npz")
    assert code == 0, err
    assert "3 functions at resolution 32" in out and "relative L2 against the file's outputs" in out
    with np.load(tmp_path / "p.npz") as f:
        assert f["predictions"].shape == (3, 32) and f["errors"].shape == (3,)
    code, _, err = cli(capsys, "predict", run, "--input", data, "--out", tmp_path / "p.npz")
    assert code == 2 and "not overwritten" in error_line(err)
    np.savez(tmp_path / "plain.npz", inputs=np.zeros((2, 16)))
    code, out, err = cli(capsys, "predict", run, "--input", tmp_path / "plain.npz")
    assert code == 0 and "2 functions at resolution 16" in out


def test_operator_mistakes_are_one_line_errors(capsys, tmp_path, data_dir):
    run = tmp_path / "run"
    assert cli(capsys, "solve", "burgers1d_operator", *TINY_FNO, "--out", run)[0] == 0
    np.savez(tmp_path / "wrong.npz", inputs=np.zeros((2, 16, 16)))
    code, _, err = cli(capsys, "predict", run, "--input", tmp_path / "wrong.npz")
    assert code == 2 and "do not fit problem family 'burgers1d_operator'" in error_line(err)
    (tmp_path / "junk.h5").write_bytes(b"junk")
    code, _, err = cli(capsys, "solve", "burgers1d_operator", *TINY_FNO, "--set", f"dataset={tmp_path / 'junk.h5'}",
                       "--out", tmp_path / "run2")
    assert code == 2 and "cannot be read" in error_line(err) and (tmp_path / "junk.h5").read_bytes() == b"junk"
    code, _, err = cli(capsys, "solve", "darcy2d", "--solver", "pinn", "--out", tmp_path / "run3", "--no-progress")
    assert code == 2 and "problem family" in error_line(err)
    code, _, err = cli(capsys, "solve", "poisson2d", "--solver", "fno", "--out", tmp_path / "run4", "--no-progress")
    assert code == 2 and "one PDE" in error_line(err)
    code, _, err = cli(capsys, "data", "generate", "poisson2d", "--out", tmp_path / "x.h5")
    assert code == 2 and "not a problem family" in error_line(err)
    dataset = tmp_path / "d.h5"
    assert cli(capsys, "data", "generate", "antiderivative", "--samples", "2", "--test", "1", "--resolution", "8",
               "--out", dataset)[0] == 0
    code, _, err = cli(capsys, "data", "generate", "antiderivative", "--samples", "2", "--out", dataset)
    assert code == 2 and "not overwritten" in error_line(err)
    code, _, err = cli(capsys, "solve", "burgers1d_operator", *TINY_FNO, "--set", f"dataset={dataset}", "--out", tmp_path / "run5")
    assert code == 2 and "of problem 'antiderivative', not 'burgers1d_operator'" in error_line(err)
