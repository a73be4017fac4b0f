"Helpers shared by the test files; each block names its owner."

# ---------------------------------------------------------------- runapi: the command line as a user runs it
import os, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

def cli(*args, env:dict|None=None, cwd:Path=ROOT, timeout:int=900)->subprocess.CompletedProcess:
    "Run `python -m pets_fastai.cli args` in `cwd` at the smoke scale; `env` entries set to None are removed"
    env = {**os.environ, 'PETS_PROFILE': 'smoke', 'MPLBACKEND': 'Agg', **(env or {})}
    return subprocess.run([sys.executable, '-m', 'pets_fastai.cli', *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env={k: v for k, v in env.items() if v is not None})

def assert_clean_failure(r:subprocess.CompletedProcess, code:int, msg:str):
    "`r` exited with `code`, said `msg` on stderr, and showed no traceback"
    assert r.returncode == code, (r.returncode, r.stderr[-2000:])
    assert msg in r.stderr, r.stderr[-2000:]
    assert 'Traceback' not in r.stderr, r.stderr[-2000:]
