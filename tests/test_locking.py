"""The pipeline lock with real processes: refusal names the holder, the holder's children pass, SIGKILL frees it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from r1router.locking import TOKEN_ENV, PipelineLocked, pipeline_lock, read_holder

HOLDER = textwrap.dedent(
    """
    import subprocess, sys, time
    from r1router.locking import pipeline_lock

    root, mode = sys.argv[1], sys.argv[2]
    with pipeline_lock(root, command="toy holder --flag") as lock:
        if mode == "child":  # a child process of the holder (as dvc -> python -m flows.x) asks for the lock too
            child = "import sys\\nfrom r1router.locking import pipeline_lock\\n"
            child += "with pipeline_lock(sys.argv[1]) as lock: print(lock.acquired)"
            out = subprocess.run([sys.executable, "-c", child, root], capture_output=True, text=True)
            print("child:", out.stdout.strip() or out.stderr.strip().splitlines()[-1], flush=True)
        if mode == "inherit":  # a child that inherits the descriptor, as `dvc repro` does from `r1router repro`
            keeper = subprocess.Popen(["sleep", "300"], pass_fds=(lock.fd,))
            print("keeper:", keeper.pid, flush=True)
        print("ready", flush=True)
        time.sleep(300)
    """
)


@pytest.fixture
def start_holder(tmp_path):
    """Start a process that takes the lock on `tmp_path`; return it and the lines it printed up to 'ready'."""
    started: list[subprocess.Popen] = []

    def start(mode: str = "plain") -> tuple[subprocess.Popen, list[str]]:
        env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
        proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(tmp_path), mode], stdout=subprocess.PIPE, text=True, env=env
        )
        started.append(proc)
        lines = []
        assert proc.stdout is not None
        while (line := proc.stdout.readline().strip()) != "ready":
            assert line or proc.poll() is None, f"holder exited early: {lines}"
            lines.append(line)
        return proc, lines

    yield start
    for proc in started:
        proc.kill()
        proc.wait()


def test_a_second_run_is_refused_with_the_holders_pid_start_and_command(tmp_path, start_holder, monkeypatch):
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    holder, _ = start_holder()
    with pytest.raises(PipelineLocked) as refused, pipeline_lock(tmp_path):
        pass
    message = str(refused.value)
    recorded = read_holder(tmp_path / ".r1router.lock")
    assert recorded is not None and recorded.pid == holder.pid
    assert f"pid {holder.pid}, started {recorded.started}, command: toy holder --flag" in message
    assert str(tmp_path / ".r1router.lock") in message


def test_a_child_of_the_holder_is_let_through(start_holder):
    _, lines = start_holder("child")
    assert lines == ["child: False"]  # the child ran inside the holder's lock without taking it again


def test_a_token_from_another_run_does_not_pass(tmp_path, start_holder, monkeypatch):
    start_holder()
    monkeypatch.setenv(TOKEN_ENV, "0" * 32)
    with pytest.raises(PipelineLocked), pipeline_lock(tmp_path):
        pass


def test_nested_use_in_one_process_rides_on_the_outer_lock(tmp_path, monkeypatch):
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    with pipeline_lock(tmp_path, command="outer") as outer:
        assert outer.acquired and os.environ[TOKEN_ENV] == outer.holder.token
        with pipeline_lock(tmp_path) as inner:
            assert not inner.acquired and inner.holder == outer.holder
    assert TOKEN_ENV not in os.environ
    with pipeline_lock(tmp_path) as again:  # released on exit
        assert again.acquired


def test_a_holder_killed_with_sigkill_leaves_no_stale_lock(tmp_path, start_holder, monkeypatch):
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    holder, _ = start_holder()
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    with pipeline_lock(tmp_path, command="next run") as lock:
        assert lock.acquired
        assert read_holder(tmp_path / ".r1router.lock").command == "next run"


def test_the_lock_lives_as_long_as_a_child_holding_its_descriptor(tmp_path, start_holder, monkeypatch):
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    holder, lines = start_holder("inherit")
    keeper = int(lines[0].split()[1])
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    with pytest.raises(PipelineLocked, match=f"pid {holder.pid} \\(no longer running"), pipeline_lock(tmp_path):
        pass
    os.kill(keeper, signal.SIGKILL)  # the last descriptor closes when the keeper exits (reaped or not)
    deadline = time.monotonic() + 10
    while True:
        try:
            with pipeline_lock(tmp_path) as lock:
                assert lock.acquired
                return
        except PipelineLocked:
            assert time.monotonic() < deadline, "the lock outlived the last process holding its descriptor"
            time.sleep(0.1)
