"""Fail if `nbdev-clean`, `nbdev-export` or tools/docs/readme.py would change tracked files. Works on a copy: changes nothing here."""
import filecmp, shutil, subprocess, sys, tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

def main():
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name in ('nbs', 'pets_fastai', 'tools'): shutil.copytree(ROOT/name, tmp/name, ignore=shutil.ignore_patterns('__pycache__'))
        for name in ('pyproject.toml', 'README.md'): shutil.copy(ROOT/name, tmp/name)
        for cmd in ([BIN/'nbdev-clean'], [BIN/'nbdev-export'], [sys.executable, 'tools/docs/readme.py']):
            subprocess.run(cmd, cwd=tmp, check=True, capture_output=True)
        changed = [str(p.relative_to(tmp)) for p in sorted(tmp.rglob('*')) if p.is_file() and '__pycache__' not in p.parts
                   and (not (ROOT/p.relative_to(tmp)).exists() or not filecmp.cmp(p, ROOT/p.relative_to(tmp), shallow=False))]
    if changed:
        sys.exit("These files are out of step with the notebooks: " + ', '.join(changed) +
                 ".\nRun `make export` (nbdev-clean, nbdev-export, README) and commit the result.")
    print('notebooks, pets_fastai/ and README.md are in step')

if __name__ == '__main__': main()
