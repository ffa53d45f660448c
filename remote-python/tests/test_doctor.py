import json
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
