"""Print pyproject.toml's lower bounds as pip constraints (`name==bound`), for `make test-lower`.

Every `>=` bound of the runtime and `dev` dependencies becomes an exact pin, so the second environment tests
the oldest versions the project claims; `==` pins pass through, unbounded names are left to pip. torch and
torchvision are the exception: their lower bounds (Colab's 2.11 and 0.26) are CUDA builds of several GB that this
machine cannot fetch in every CI run, so here they are pinned to the builds it has (`HERE`); those lower bounds
are checked on a GPU machine that has them (`make test-gpu` or `../shared/gpu/run.sh`; the README says what ran)."""
import re, sys, tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HERE = {'torch': '2.14.1', 'torchvision': '0.29.1'}  # the builds on this machine's disk (see the docstring)

def lower_bounds(pyproject:Path=ROOT/'pyproject.toml')->list[str]:
    "`name==version` for every dependency of `pyproject` with a `>=` or `==` bound"
    proj = tomllib.loads(pyproject.read_text())['project']
    pins = []
    for req in proj['dependencies'] + proj.get('optional-dependencies', {}).get('dev', []):
        m = re.match(r'^\s*([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?\s*[^;]*?(?:>=|==)\s*([^,;\s]+)', req)
        if m: pins.append(f'{m.group(1)}=={HERE.get(m.group(1), m.group(2))}')
    return pins

if __name__ == '__main__': print('\n'.join(lower_bounds()))
