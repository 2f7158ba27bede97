"""Click and Typer: one scope per command invocation, the container closed when the
program exits (also on Ctrl-C, checked with a real process and SIGINT), exit codes kept."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from typer.testing import CliRunner as TyperRunner

from injectq.integrations.click import setup_click
from support import cli_app
from support.processes import SUPPORT, worker_env


@pytest.fixture
def journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "journal.txt"
    path.touch()
    monkeypatch.setenv("INJECTQ_JOURNAL", str(path))
    monkeypatch.setenv("INJECTQ_DB", str(tmp_path / "cli.db"))
    return path


def events(journal: Path) -> list[str]:
    return journal.read_text().splitlines()


def test_each_click_invocation_has_its_own_scope(journal: Path) -> None:
    runner = CliRunner()
    for expected in (1, 2):
        result = runner.invoke(cli_app.cli, ["count"])
        assert result.exit_code == 0, result.output
        assert result.output.strip() == str(expected)
    # a connection per invocation, closed with it; the container closed after each
    # program run (the runner's), so Settings is opened again the next time
    assert (
        events(journal)
        == [
            "settings opened",
            "store opened",
            "store closed",
            "settings closed",
        ]
        * 2
    )
    assert cli_app.click_container.get_all_resources() == {}


@pytest.mark.parametrize("code", [0, 3])
def test_click_exit_codes_are_kept(journal: Path, code: int) -> None:
    result = CliRunner().invoke(cli_app.cli, ["leave", str(code)])
    assert result.exit_code == code
    assert events(journal)[-2:] == ["store closed", "settings closed"]


def test_a_failing_click_command_passes_its_error_to_the_disposals(journal: Path) -> None:
    result = CliRunner().invoke(cli_app.cli, ["fail"])
    assert result.exit_code == 1
    assert isinstance(result.exception, RuntimeError)
    assert events(journal) == [
        "settings opened",
        "store opened",
        "store saw RuntimeError",
        "store closed",
        "settings closed",
    ]


def test_typer_commands_run_in_their_own_scope(journal: Path) -> None:
    runner = TyperRunner()
    result = runner.invoke(cli_app.typer_app, ["count", "--times", "2"])
    assert result.exit_code == 0, result.output
    assert result.output.split() == ["1", "2"]  # one connection shared by the invocation
    assert events(journal) == [
        "settings opened",
        "store opened",
        "store closed",
        "settings closed",
    ]
    help_text = runner.invoke(cli_app.typer_app, ["count", "--help"]).output
    assert "--times" in help_text and "store" not in help_text.lower()
    assert runner.invoke(cli_app.typer_app, ["leave", "4"]).exit_code == 4


def test_setting_up_twice_wraps_once(journal: Path) -> None:
    setup_click(cli_app.click_container, cli_app.cli)
    CliRunner().invoke(cli_app.cli, ["count"])
    assert events(journal).count("store opened") == 1


@pytest.mark.parametrize(
    ("program", "code", "message"), [("click", 1, b"Aborted"), ("typer", 130, b"")]
)
def test_ctrl_c_disposes_and_closes_the_container(
    program: str, code: int, message: bytes, tmp_path: Path
) -> None:
    journal = tmp_path / "journal.txt"
    env = worker_env(INJECTQ_JOURNAL=str(journal), INJECTQ_DB=str(tmp_path / "cli.db"))
    process = subprocess.Popen(
        [sys.executable, str(SUPPORT / "cli_app.py"), program, "wait"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stderr is not None
        assert process.stderr.readline().strip() == b"ready"
        process.send_signal(signal.SIGINT)
        _out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    # each framework's own exit code: Click answers Ctrl-C with 1 ("Aborted!"), Typer 130
    assert process.returncode == code, err
    assert message in err
    assert journal.read_text().splitlines() == [
        "settings opened",
        "store opened",
        "store saw KeyboardInterrupt",
        "store closed",
        "settings closed",
    ]


def test_importing_injectq_does_not_import_click_celery_or_pytest() -> None:
    code = (
        "import sys, injectq, injectq.integrations, injectq.testing\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('click', 'typer', 'celery', 'kombu', 'pytest', '_pytest'))\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
