"""Write README.md from nbs/index.ipynb, offline (nbdev-readme needs Quarto). `--check` only compares."""
import re, sys
from pathlib import Path
import nbformat

ROOT = Path(__file__).resolve().parents[2]
HEADER = '<!-- Generated from nbs/index.ipynb by tools/docs/readme.py (`make export`); edit the notebook, not this file. -->\n\n'

def _directives(src:str)->set[str]: return {l[3:].strip().replace(' ', '') for l in src.splitlines() if l.startswith('#| ') and l[3:].strip()}

def _output_md(out)->str:
    "Markdown for one stored output, or '' for outputs a README cannot show"
    if out.output_type == 'stream': return f'```\n{out.text.rstrip()}\n```'
    data = out.get('data', {})
    if '<table' in data.get('text/html', ''): return data['text/html'].strip()
    if 'text/markdown' in data: return data['text/markdown'].strip()
    if 'text/plain' in data: return f'```\n{data["text/plain"].rstrip()}\n```'
    return ''

def render(nb_path:Path=ROOT/'nbs'/'index.ipynb')->str:
    "README.md's text for the notebook at `nb_path`"
    parts = []
    for cell in nbformat.read(nb_path, as_version=4).cells:
        if cell.cell_type == 'markdown':  # lesson links point into nbs/ from the repository's root
            parts.append(re.sub(r'\]\((\d\d[a-zA-Z0-9]*_\w+\.ipynb)\)', r'](nbs/\1)', cell.source.strip())); continue
        if 'hide' in _directives(cell.source): continue
        code = '\n'.join(l for l in cell.source.splitlines() if not l.startswith('#|')).strip()
        if code and not {'hide_input', 'echo:false'} & _directives(cell.source): parts.append(f'```python\n{code}\n```')
        parts += [md for out in cell.get('outputs', []) if (md := _output_md(out))]
    return HEADER + '\n\n'.join(p for p in parts if p) + '\n'

if __name__ == '__main__':
    txt, dest = render(), ROOT/'README.md'
    if '--check' in sys.argv:
        if not dest.exists() or dest.read_text() != txt: sys.exit('README.md is stale: run `make export` to regenerate it from nbs/index.ipynb.')
    else: dest.write_text(txt)
