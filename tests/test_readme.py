import re, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

def test_readme_is_generated_from_index():
    r = subprocess.run([sys.executable, 'tools/docs/readme.py', '--check'], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr

def test_llms_txt_and_package_docstring_list_every_module():
    "nbdev lists a module only when its docstring says more than the summary: an exported markdown cell in its notebook"
    import pets_fastai
    llms = (ROOT/'nbs'/'llms.txt').read_text()
    for fn in sorted((ROOT/'pets_fastai').glob('[!_]*.py')):
        mod = f'pets_fastai.{fn.stem}'
        nb = next((ROOT/'nbs').glob(f'*_{fn.stem}.ipynb'), None)
        fix = (f'add a markdown cell starting with `#| export` after the `#| default_exp` cell of nbs/{nb.name} (a few '
               'sentences on what the module offers and its main names), then run `make export`') if nb else 'give it a module docstring'
        assert f'{mod}]' in llms or f'`{mod}`' in llms, f'{mod} is missing from nbs/llms.txt: {fix}.'
        assert f'`{mod}`' in pets_fastai.__doc__, f'{mod} is missing from the package docstring: {fix}.'

def test_readme_links_reach_files():
    "Every relative link of README.md, as GitHub resolves it from the repository's root, names a file that is there"
    links = re.findall(r'\]\(([^)#\s]+)\)', (ROOT/'README.md').read_text())
    local = [l for l in links if not re.match(r'[a-z]+:', l)]
    assert any(l.startswith('nbs/0') for l in local), local  # the lesson table is among them
    missing = [l for l in local if not (ROOT/l).exists()]
    assert not missing, f'README.md links to files that do not exist: {missing}; fix the links in nbs/index.ipynb, then `make export`.'
