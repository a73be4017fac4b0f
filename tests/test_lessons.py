"""The lessons read as the chapter does: the idea on the first screen, checks out of the reader's way, the book's own
calls run as written, questions whose answers are folded away, and something to try. Read from the notebooks' JSON."""
import ast, json, re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LESSONS = sorted((ROOT/'nbs').glob('0[1-6]_*.ipynb'))

def _src(c)->str: return ''.join(c['source'])
def _cells(fn:Path)->list[dict]: return json.loads(fn.read_text())['cells']
def _directives(s:str)->list[str]: return [l[2:].strip() for l in s.splitlines() if l.startswith('#|')]
def _hidden(c)->bool: return any(d == 'hide' or d.replace(' ', '') == 'echo:false' for d in _directives(_src(c)))

def _is_check(stmt)->bool:
    "An `assert`, or a call of fastcore's `test_*` or an `assert*` function, or an `if`/`for`/`with` of nothing else"
    if isinstance(stmt, ast.Assert): return True
    if isinstance(stmt, (ast.If, ast.For, ast.With)): return all(map(_is_check, stmt.body + getattr(stmt, 'orelse', [])))
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
        f = stmt.value.func
        return (f.id if isinstance(f, ast.Name) else getattr(f, 'attr', '')).startswith(('test_', 'assert'))
    return False

def shown_checks(cells:list[dict])->list[int]:
    "Indices of the code cells a page shows that do nothing but check"
    code = lambda c: '\n'.join(l for l in _src(c).splitlines() if not l.startswith('#|'))
    return [i for i, c in enumerate(cells) if c['cell_type'] == 'code' and not _hidden(c) and code(c).strip()
            and all(map(_is_check, ast.parse(code(c)).body))]

def test_shown_checks_are_found():
    cells = [{'cell_type': 'code', 'source': s} for s in ('test_eq(a, 1)\nassert b', '#| hide\nassert b', 'x = 1\nassert x',
                                                          "for r in 'ab': torch.testing.assert_close(f(r), g(r))", 'x')]
    assert shown_checks(cells) == [0, 3]

@pytest.mark.parametrize('fn', LESSONS, ids=[p.stem for p in LESSONS])
def test_the_idea_comes_first(fn):
    shown = [c for c in _cells(fn) if not _hidden(c) and not re.fullmatch(r'#\| default_exp \w+', _src(c).strip())]
    assert shown[0]['cell_type'] == 'markdown' and _src(shown[0]).startswith('# ')
    assert _src(shown[1]).startswith('**In Colab**') and '\n' not in _src(shown[1]).strip(), 'the Colab note is one line'
    idea = _src(shown[2])
    assert shown[2]['cell_type'] == 'markdown' and not idea.startswith(('#| export', '#')) and len(idea) > 200, idea[:200]

@pytest.mark.parametrize('fn', LESSONS, ids=[p.stem for p in LESSONS])
def test_checks_stay_out_of_the_way(fn):
    assert len(shown_checks(_cells(fn))) <= 5, [(_src(c)[:60]) for c in map(_cells(fn).__getitem__, shown_checks(_cells(fn)))]

@pytest.mark.parametrize('fn', LESSONS, ids=[p.stem for p in LESSONS])
def test_questions_then_try_it_then_folded_answers(fn):
    cells = _cells(fn)
    heads = [i for i, c in enumerate(cells) if c['cell_type'] == 'markdown' and _src(c).strip() in ('## Questions', '## Try it', '## Answers')]
    assert [_src(cells[i]).strip() for i in heads] == ['## Questions', '## Try it', '## Answers']
    q, t, a = heads
    assert re.search(r'^1\. ', _src(cells[q + 1]), re.M) and len(_src(cells[t + 1])) > 150  # numbered questions; an exercise
    answer = cells[a + 1]
    assert answer['cell_type'] == 'code' and 'fold: cell' in _directives(_src(answer)), 'the answers are folded away'

def test_lesson_2_runs_the_books_calls():
    code = [_src(c) for c in _cells(ROOT/'nbs'/'02_learner.ipynb') if c['cell_type'] == 'code' and not _hidden(c)]
    first = next(i for i, s in enumerate(code) if 'vision_learner(' in s and '.fine_tune(' in s)
    assert re.search(r'^learn = vision_learner\(dls, .*metrics=error_rate\)$', code[first], re.M)
    assert first < next(i for i, s in enumerate(code) if 'pets_learner(' in s)  # the book's code before the project's helper

def test_lesson_3_shows_the_loss_of_a_few_photos_and_the_nll_trap():
    src = '\n'.join(map(_src, _cells(ROOT/'nbs'/'03_loss.ipynb')))
    assert "'p of the true breed'" in src and "'loss, −log p'" in src
    assert 'F.nll_loss(preds, y), F.nll_loss(preds.log(), y)' in src and 'takes no logarithm' in src
