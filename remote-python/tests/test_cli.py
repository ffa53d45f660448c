"""The CLI commands as a user runs them (real subprocesses; the stages are the scripted stand-ins)."""

import csv
import json

from run_helpers import cli, stand_in, write_config
from wire import assert_server_message

from archloop.run.selection import PAPER_COLUMNS


def test_run_in_the_foreground_prints_the_papers_table_as_it_grows(tmp_path):
    config = write_config(tmp_path / "c.toml", cycles=2, candidates=4)
    result = cli("run", "--config", str(config), "--run-dir", str(tmp_path / "r"), command=stand_in())
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if "Valid (%)" in line)
    assert all(col in lines[header] for col in PAPER_COLUMNS)
    assert lines[header + 1].split()[0] == "1" and lines[header + 2].split()[0] == "2"
    assert lines[-1] == "run completed"


def test_bad_config_and_unknown_preset_are_clear_errors(tmp_path):
    bad = tmp_path / "config.toml"
    bad.write_text('[generation]\ntemperature = "hot"\n')
    for command in ("run", "start"):
        result = cli(command, "--config", str(bad), "--run-dir", str(tmp_path / "r"))
        assert result.returncode == 2
        assert "config.toml: [generation] temperature must be a number > 0, got 'hot'" in result.stderr
        assert "Traceback" not in result.stderr
    unknown = cli("start", "--preset", "huge", "--run-dir", str(tmp_path / "r"))
    assert unknown.returncode == 2 and "known presets: demo, gpu-small, paper" in unknown.stderr
    neither = cli("start", "--run-dir", str(tmp_path / "r"))
    assert neither.returncode == 2 and "--config FILE or --preset NAME" in neither.stderr
    assert not (tmp_path / "r" / "run.sqlite").exists()


def test_status_runs_and_export_of_a_finished_run(tmp_path):
    root = tmp_path / "runs"
    config = write_config(
        tmp_path / "c.toml", cycles=2, candidates=6, selection={"threshold": 20.0, "fallback_threshold": 5.0}
    )
    assert cli("run", "--config", str(config), "--run-dir", str(root / "one"), command=stand_in()).returncode == 0
    status = json.loads(cli("status", "--run-dir", str(root / "one"), "--json").stdout)
    assert status["state"] == "finished" and status["cycle"] == 2 and status["daemonAlive"] is False
    assert_server_message({"type": "response", "id": 1, "ok": True, "result": status})
    listing = json.loads(cli("runs", "--root", str(root), "--json").stdout)
    assert [r["run"] for r in listing] == ["one"]
    assert "one" in cli("runs", "--root", str(root)).stdout
    out = tmp_path / "export"
    exported = cli("export", "--run-dir", str(root / "one"), "--out", str(out))
    assert exported.returncode == 0, exported.stderr
    nets = sorted((out / "ab" / "nn" / "nn").glob("*.py"))
    meta = json.loads((out / "candidates.json").read_text())
    assert nets and len(nets) == len(meta) and all(n.read_text().startswith("import torch") for n in nets)
    rows = list(csv.reader((out / "stats.csv").open()))
    assert rows[0] == list(PAPER_COLUMNS) and [r[0] for r in rows[1:]] == ["1", "2"]
    stats = json.loads((out / "stats.json").read_text())
    assert [c["cycle"] for c in stats["cycles"]] == [1, 2] and "validCI" in stats["cycles"][0]


def test_commands_on_a_directory_that_is_not_a_run_fail_cleanly(tmp_path):
    for args in (("status",), ("stop",), ("export", "--out", str(tmp_path / "o"))):
        result = cli(*args[:1], "--run-dir", str(tmp_path), *args[1:])
        assert result.returncode == 2 and "not an ArchLoop run" in result.stderr


REPLIES = __import__("pathlib").Path(__file__).parent / "replies"


def _reply(name: str) -> str:
    return (REPLIES / name).read_text(encoding="utf-8").partition("# ---\n")[2]


def test_check_prints_what_the_loop_would_do_with_a_reply(tmp_path):
    reply = tmp_path / "reply.md"
    reply.write_text(_reply("13-main-demo-block.txt"))
    result = cli("check", "--json", str(reply))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert (data["ok"], data["outcome"], data["stage"], data["problems"], data["evaluation"]) == (
        True,
        "ok",
        "check",
        [],
        None,
    )
    assert "__main__" not in data["code"] and data["code"].startswith("import torch\n")
    assert {"kind": "main_block", "line": 65, "text": 'if __name__ == "__main__":'} in data["stripped"]
    assert data["hyperparameters"] == ["dropout", "lr", "momentum"]
    text = cli("check", str(reply))
    assert text.returncode == 0 and text.stdout.startswith("ok: ok (at check)") and "stripped main_block" in text.stdout


def test_check_reads_stdin_and_a_rejected_net_exits_1_with_its_problems():
    import subprocess

    from run_helpers import ARCHLOOP

    for name, outcome in (("35-no-net-class.txt", "contract_error"), ("27-refusal.txt", "no_code")):
        result = subprocess.run(
            [*ARCHLOOP, "check", "--json"], input=_reply(name), capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 1, result.stderr
        data = json.loads(result.stdout)
        assert not data["ok"] and data["outcome"] == outcome and data["problems"]
        assert all(set(p) == {"line", "message"} for p in data["problems"])
    missing = cli("check", "/nonexistent/reply.md")
    assert missing.returncode == 2 and "cannot read /nonexistent/reply.md" in missing.stderr


def test_check_train_runs_the_sandboxed_epoch_on_synthetic_data(tmp_path):
    reply = tmp_path / "reply.md"
    reply.write_text(_reply("20-py-tag.txt"))
    result = cli("check", "--json", "--train", "--train-images", "64", "--test-images", "32", str(reply), timeout=300)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["stage"] == "evaluate" and data["outcome"] == "ok"
    evaluation = data["evaluation"]
    assert evaluation["outcome"] == "ok" and evaluation["data"] == "synthetic:64/32/seed0"
    assert 0.0 <= evaluation["accuracy"] <= 100.0 and evaluation["params"] > 0 and evaluation["train_seconds"] > 0
