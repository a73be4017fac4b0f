"""Sphinx settings for the pets_fastai site. `tools/docs/build.py` runs Sphinx with this folder as its config
directory and `_proc/` (notebooks prepared from `nbs/` by nbdev's processors) as its source."""
import re, tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_pyproject = tomllib.loads((ROOT/'pyproject.toml').read_text())
REPO = _pyproject['project']['urls']['Repository'].rstrip('/')

project = 'pets_fastai'
author = 'pets_fastai developers'
copyright = '2026, pets_fastai developers'
release = version = re.search(r'__version__\s*=\s*"([^"]+)"', (ROOT/'pets_fastai'/'__init__.py').read_text())[1]

extensions = ['myst_nb', 'sphinx.ext.mathjax']
root_doc = 'index'
exclude_patterns = ['.doctrees', '**.ipynb_checkpoints']
suppress_warnings = ['myst.header']  # lessons may step from a `#` title to a `###` heading

# Notebooks are shown with the outputs stored in them: building the site never runs (or re-trains) anything.
nb_execution_mode = 'off'
nb_merge_streams = True
nb_render_markdown_format = 'myst'  # markdown outputs (the `run_info` table) are parsed with tables on
myst_enable_extensions = ['dollarmath', 'amsmath', 'attrs_block', 'attrs_inline', 'colon_fence', 'html_image']
myst_heading_anchors = 3
smartquotes = False  # quotes stay as typed: the pages quote regexes, file names and messages a reader may copy

# MathJax 3 comes from the `sphinx-mathjax-offline` wheel; `_copy_mathjax` below copies the files into `_static/mathjax`,
# so pages typeset formulas with no network.
mathjax_path = 'mathjax/tex-chtml.js'

html_theme = 'sphinx_book_theme'
html_title = 'pets_fastai'
html_static_path = ['_static']
html_favicon = '_static/favicon.svg'
html_css_files = ['custom.css']
html_last_updated_fmt = None
html_show_sourcelink = False
html_copy_source = True
html_theme_options = {
    'repository_url': REPO,
    'repository_branch': 'main',
    'path_to_docs': 'nbs',
    'use_repository_button': True,
    'use_download_button': True,
    'use_source_button': False,  # pages are named like nbdev's (`profiles.html` for `nbs/00_profiles.ipynb`),
    'use_edit_page_button': False,  # so the theme's own links to source files would miss; each page has its
    'launch_buttons': {},  # own Colab badge, in its title cell
    'home_page_in_toc': True,
    'show_toc_level': 2,
    'navigation_with_keys': False,
    'extra_footer': '',
}
html_context = {'default_mode': 'light'}

def _copy_mathjax(app, exc):
    "Copy the MathJax files the pages use (TeX input, HTML output, its fonts and TeX extensions) into `_static/mathjax`"
    if exc is not None: return
    from importlib.metadata import PackageNotFoundError, distribution
    import shutil
    try: src = Path(distribution('sphinx-mathjax-offline').locate_file('sphinx-mathjax-offline/static/mathjax'))
    except PackageNotFoundError as e:
        raise RuntimeError("MathJax for offline pages comes from the `sphinx-mathjax-offline` package: "
                           "run `make docs` (it installs the dev extras) or `pip install -e '.[dev]'`.") from e
    dest = Path(app.outdir)/'_static'/'mathjax'
    shutil.rmtree(dest, ignore_errors=True)
    for rel in ('tex-chtml.js', 'output/chtml/fonts/woff-v2', 'input/tex/extensions', 'ui', 'a11y', 'sre/mathmaps/base.json', 'sre/mathmaps/en.json'):
        (dest/rel).parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if (src/rel).is_dir() else shutil.copy)(src/rel, dest/rel)

def setup(app): app.connect('build-finished', _copy_mathjax)
