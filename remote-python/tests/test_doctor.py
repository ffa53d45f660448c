import json
import os
import re
import subprocess
import sys


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "archloop", *args], capture_output=True, text=True, timeout=120)


def test_help_lists_the_user_commands_and_hides_the_internal_daemon():
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("doctor", "prepare-demo", "run", "start", "stop", "attach", "status", "runs", "export"):
        assert re.search(rf"^    {command}\b", result.stdout, re.MULTILINE), command
    assert "    daemon" not in result.stdout and "SUPPRESS" not in result.stdout


def test_doctor_json_reports_this_host(tmp_path):
    result = run_cli("doctor", "--json", "--run-root", str(tmp_path / "runs"))
    report = json.loads(result.stdout)
    assert report["python"].startswith(f"{sys.version_info.major}.{sys.version_info.minor}")
    names = {p["name"]: p for p in report["packages"]}
    assert names["torch"]["ok"] and names["torch"]["version"]
    assert names["datasketch"]["ok"]
    assert report["disk_free_gib"] > 0
    assert report["cuda_available"] in (True, False)
    assert result.returncode == (0 if report["ok"] else 1)


def test_doctor_names_the_install_command_for_a_missing_package(tmp_path):
    # A package shadowed by a module that fails to import must be reported with the command that fixes it.
    (tmp_path / "datasketch.py").write_text("raise ImportError('simulated missing datasketch')\n")
    env = {"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-m", "archloop", "doctor", "--json", "--run-root", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    report = json.loads(result.stdout)
    datasketch = next(p for p in report["packages"] if p["name"] == "datasketch")
    assert not datasketch["ok"]
    assert datasketch["install"] == f"{sys.executable} -m pip install datasketch"
    assert any("datasketch" in p for p in report["problems"])
    assert result.returncode == 1


def test_doctor_preset_marks_what_the_preset_needs_and_this_host_lacks():
    from archloop.config import load_config
    from archloop.doctor import config_needs

    python = sys.executable
    paper = config_needs(load_config(preset="paper"), cuda=False, bitsandbytes=False, python=python)
    assert any("[model] quantization = '4bit' needs bitsandbytes" in p for p in paper)
    assert any(f"`{python} -m pip install 'bitsandbytes>=0.45'`" in p for p in paper)
    assert any("[sft] optimizer = 'paged_adamw_8bit'" in p for p in paper)
    assert any("paper needs a CUDA GPU" in p for p in paper)
    assert config_needs(load_config(preset="paper"), cuda=True, bitsandbytes=True, python=python) == []
    small = config_needs(load_config(preset="gpu-small"), cuda=False, bitsandbytes=False, python=python)
    assert len(small) == 1 and "gpu-small needs a CUDA GPU" in small[0]
    assert config_needs(load_config(preset="demo"), cuda=False, bitsandbytes=False, python=python) == []


def test_the_extras_a_preset_needs_are_named_for_deploy():
    from dataclasses import replace

    from archloop.config import load_config
    from archloop.doctor import config_extras

    assert config_extras(load_config(preset="paper")) == ["gpu"]  # 4-bit NF4 and paged 8-bit AdamW
    assert config_extras(load_config(preset="gpu-small")) == []
    assert config_extras(load_config(preset="demo")) == []
    small = load_config(preset="gpu-small")
    assert config_extras(replace(small, model=replace(small.model, quantization="8bit"))) == ["gpu"]
    assert config_extras(replace(small, sft=replace(small.sft, optimizer="adamw_bnb_8bit"))) == ["gpu"]


def test_doctor_with_a_preset_reports_its_problems_and_an_unknown_preset_is_an_error(tmp_path):
    result = run_cli("doctor", "--json", "--run-root", str(tmp_path / "runs"), "--preset", "demo")
    assert json.loads(result.stdout)["preset"] == "demo"
    assert json.loads(result.stdout)["extras"] == []
    paper = run_cli("doctor", "--json", "--run-root", str(tmp_path / "runs"), "--preset", "paper")
    assert json.loads(paper.stdout)["extras"] == ["gpu"]
    bad = run_cli("doctor", "--preset", "huge")
    assert bad.returncode != 0 and "unknown preset 'huge'" in bad.stderr


LEMUR_GET = "pip download nn-dataset==2.1.2 --no-deps -d ~/.cache/archloop/lemur"


def test_doctor_says_a_configured_lemur_corpus_is_missing_and_the_command_that_gets_it(tmp_path):
    missing = tmp_path / "nowhere" / "nn_dataset-2.1.2-py3-none-any.whl"
    config = tmp_path / "run.toml"
    config.write_text(f'[model]\nid = "demo"\n\n[corpus]\nlemur = "{missing}"\n')
    result = run_cli("doctor", "--json", "--run-root", str(tmp_path / "runs"), "--config", str(config))
    report = json.loads(result.stdout)
    corpus = report["corpus"]
    assert (corpus["source"], corpus["exists"], corpus["found"], corpus["get"]) == (
        str(missing),
        False,
        False,
        LEMUR_GET,
    )
    (problem,) = [p for p in report["problems"] if "[corpus]" in p]
    assert f"[corpus] lemur = '{missing}' does not exist" in problem and f"`{LEMUR_GET}`" in problem
    assert "then set [corpus] lemur = '~/.cache/archloop/lemur/nn_dataset-2.1.2-py3-none-any.whl'" in problem
    assert result.returncode == 1 and not report["ok"]


def test_a_preset_that_names_the_wheel_is_not_ready_without_it(tmp_path):
    # paper names ~/.cache/archloop/lemur/...: with another HOME the wheel is not there.
    env = {**os.environ, "HOME": str(tmp_path)}
    command = [sys.executable, "-m", "archloop", "doctor", "--json", "--run-root", str(tmp_path), "--preset", "paper"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    report = json.loads(result.stdout)
    assert not report["corpus"]["found"] and result.returncode == 1
    wheel = "'~/.cache/archloop/lemur/nn_dataset-2.1.2-py3-none-any.whl'"
    assert (
        f"[corpus] lemur = {wheel} does not exist: the LEMUR corpus is missing; run `{LEMUR_GET}`" in report["problems"]
    )


def test_doctor_counts_the_nets_of_a_lemur_folder_and_names_a_folder_that_holds_none(tmp_path):
    from archloop.config import config_from_dict
    from archloop.doctor import check_corpus, corpus_problem

    tree = tmp_path / "nn-dataset"
    (tree / "ab/nn/nn").mkdir(parents=True)
    for name in ("NetA", "NetB", "__init__"):
        (tree / f"ab/nn/nn/{name}.py").write_text("import torch\n")
    corpus = check_corpus(config_from_dict({"corpus": {"lemur": str(tree)}}))
    assert corpus is not None and (corpus.exists, corpus.found, corpus.nets, corpus.error) == (True, True, 2, None)
    assert check_corpus(config_from_dict({})) is None  # [corpus] lemur = 'none': nothing to check

    empty = check_corpus(config_from_dict({"corpus": {"lemur": str(tmp_path)}}))
    assert empty is not None and empty.exists and not empty.found
    problem = corpus_problem(empty)
    assert f"[corpus] lemur = '{tmp_path}' is not a LEMUR corpus" in problem and problem.count(LEMUR_GET) == 1


def test_a_missing_wheel_at_the_presets_path_needs_only_the_download():
    from archloop.corpus.settings import LEMUR_WHEEL
    from archloop.doctor import CorpusReport, corpus_problem

    problem = corpus_problem(CorpusReport(LEMUR_WHEEL, False, False, error="absent"))
    assert problem == f"[corpus] lemur = {LEMUR_WHEEL!r} does not exist: the LEMUR corpus is missing; run `{LEMUR_GET}`"


def test_doctor_finds_the_real_wheel_the_paper_preset_names():
    from pathlib import Path

    import pytest

    from archloop.config import load_config
    from archloop.corpus.settings import LEMUR_WHEEL
    from archloop.doctor import check_corpus

    if not Path(LEMUR_WHEEL).expanduser().is_file():
        pytest.skip(f"LEMUR's wheel is not at {LEMUR_WHEEL}: scripts/setup.sh downloads it")
    corpus = check_corpus(load_config(preset="paper"))
    assert corpus is not None and corpus.found and corpus.nets == 10_482  # every ab/nn/nn/*.py but __init__.py
