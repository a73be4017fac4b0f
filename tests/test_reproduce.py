"`make reproduce`'s reading and judging of headlines, on notebooks made here (the re-runs themselves take the sample series' time)."
import json, sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT/'tools'))
import reproduce as rp
from pets_fastai.evidence import Headlines, interval

def _nb(out:str|None):
    cell = nbformat.v4.new_code_cell("#| hide\nHeadlines({'mean error': (ci.mean, ci)})")
    if out is not None: cell.outputs = [nbformat.v4.new_output('execute_result', data={'text/plain': out}, execution_count=1)]
    return json.loads(nbformat.writes(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('x = 1'), cell])))

def test_headlines_are_read_from_the_stored_output():
    ci = interval([0.4, 0.5, 0.45])
    hl = Headlines({'mean error': (ci.mean, ci)})
    assert rp.headlines(_nb(repr(hl))) == {'mean error': dict(value=ci.mean, lo=ci.lo, hi=ci.hi)}
    assert rp.headlines(_nb(None)) == {}

def test_a_rerun_outside_its_interval_or_missing_is_not_ok():
    pub = {'a': dict(value=0.45, lo=0.40, hi=0.50), 'b': dict(value=0.2, lo=0.1, hi=0.3), 'c': dict(value=1., lo=0.9, hi=1.1)}
    new = {'a': dict(value=0.50, lo=0, hi=1), 'b': dict(value=0.31, lo=0, hi=1)}
    rows = rp.table('04_lr_find', pub, new)
    assert [(r['quantity'], r['rerun'], r['ok']) for r in rows] == [('a', 0.50, True), ('b', 0.31, False), ('c', None, False)]

def test_a_stale_or_empty_notebook_is_refused_before_any_rerun(tmp_path):
    fn = tmp_path/'01_x.ipynb'
    fn.write_text(json.dumps(_nb(None)))
    with pytest.raises(rp.po.OutputsError, match='stale .*run make outputs first'): rp.compare(fn)
    nb = _nb(None)
    nb['metadata']['pets_fastai'] = dict(profile='sample', code_hash=rp.po.code_hash(nb), library=rp.po.library(nb))
    fn.write_text(json.dumps(nb))
    with pytest.raises(rp.po.OutputsError, match='no stored Headlines output'): rp.compare(fn)
