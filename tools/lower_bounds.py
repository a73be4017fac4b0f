"""Print pyproject.toml's lower bounds as pip constraints (`name==bound`), for `make test-lower`.

Every `>=` bound of the runtime and `dev` dependencies becomes an exact pin, so the second environment tests
the oldest versions the project claims; `==` pins pass through, unbounded names are left to pip."""
import re, sys, tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

def lower_bounds(pyproject:Path=ROOT/'pyproject.toml')->list[str]:
    "`name==version` for every dependency of `pyproject` with a `>=` or `==` bound"
    proj = tomllib.loads(pyproject.read_text())['project']
    pins = []
    for req in proj['dependencies'] + proj.get('optional-dependencies', {}).get('dev', []):
        m = re.match(r'^\s*([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?\s*[^;]*?(?:>=|==)\s*([^,;\s]+)', req)
        if m: pins.append(f'{m.group(1)}=={m.group(2)}')
    return pins

if __name__ == '__main__': print('\n'.join(lower_bounds()))
