"Results records: run folders, atomic writes, loading, the results table, and reproducible training on a CPU."
import datetime, json
from contextlib import redirect_stdout
from io import StringIO

import pytest

from pets_fastai.profiles import get_profile
from pets_fastai.records import (BOOK_RESULTS, new_run_dir, atomic_write, write_json, new_record, save_record, load_record,
                                 load_records, results_table)
from pets_fastai.cli import main

def fake_record(experiment:str, created:str, error_rate:float, kind:str='train')->dict:
    "The parts of a record that `load_records` and `results_table` read"
    return dict(kind=kind, created=created, experiment=experiment, profile='smoke', hardware='CPU: test, 2 cores',
                arch='xresnet_tiny', weights=None, epochs=[{}, {}], final={'error_rate': error_rate}, wall_time_s=1.5,
                interrupted=False, data=dict(n_train=119, n_valid=29, generated=True))

def test_new_run_dir_never_reuses_a_folder(tmp_path):
    when = datetime.datetime(2026, 1, 2, 3, 4, 5)
    dirs = [new_run_dir(tmp_path, 'resnet34', 'full', now=when) for _ in range(12)]
    assert len(set(dirs)) == 12 and all(d.is_dir() for d in dirs)
    assert dirs[0].name == '20260102-030405-resnet34-full' and dirs[11].name == '20260102-030405-resnet34-full-12'

def test_write_json_is_atomic_and_never_overwrites(tmp_path):
    fn = write_json({'a': 1}, tmp_path/'r.json')
    with pytest.raises(FileExistsError, match='never overwritten'): write_json({'a': 2}, fn)
    with pytest.raises(TypeError): write_json({'a': {1, 2}}, tmp_path/'bad.json')  # a set is not JSON
    assert json.loads(fn.read_text()) == {'a': 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ['r.json']  # no half-written file, no temporary left
    write_json({'a': 3}, fn, overwrite=True)
    assert json.loads(fn.read_text()) == {'a': 3}

def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    fn = atomic_write(tmp_path/'m.bin', lambda f: f.write(b'old'))
    def crash(f):
        f.write(b'new, half')
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt): atomic_write(fn, crash, overwrite=True)
    assert fn.read_bytes() == b'old' and [p.name for p in tmp_path.iterdir()] == ['m.bin']

def test_new_record_common_fields(tmp_path):
    prof = get_profile('smoke')
    rec = new_record('lr_find', prof, tmp_path, suggestion=1e-3)
    assert (rec['kind'], rec['profile'], rec['arch'], rec['weights'], rec['suggestion']) == ('lr_find', 'smoke', 'xresnet_tiny', None, 1e-3)
    assert rec['data'] == dict(path=str(tmp_path.resolve()), source='generated', generated=False)
    assert rec['settings']['seed'] == prof.seed and rec['hardware'].startswith(('CPU: ', 'GPU: '))
    assert set(rec['versions']) == {'python', 'torch', 'torchvision', 'fastai', 'fastcore', 'timm', 'pets_fastai'}
    assert json.loads(json.dumps(rec)) == rec

def test_load_records_sorts_and_filters(tmp_path):
    for exp, created, kind in [('b', '2026-01-02T00:00:00+00:00', 'train'), ('a', '2026-01-01T00:00:00+00:00', 'train'),
                               ('lr', '2026-01-03T00:00:00+00:00', 'lr_find')]:
        save_record(fake_record(exp, created, 0.5, kind), new_run_dir(tmp_path, 'x', exp))
    assert [r['experiment'] for r in load_records(tmp_path)] == ['a', 'b']
    assert [r['experiment'] for r in load_records(tmp_path, kind='lr_find')] == ['lr']
    rec = load_records(tmp_path)[0]
    assert load_record(rec['run_dir']) == rec
    with pytest.raises(FileNotFoundError, match='record.json'): load_record(tmp_path)

def test_results_table_puts_ours_under_the_books():
    recs = [fake_record('fine_tune(2)', '1', 0.4), fake_record('fine_tune(9)', '2', 0.3),
            fake_record('fine_tune(1, base_lr=0.1)', '3', 0.9)]
    t = results_table(recs)
    assert len(t) == len(BOOK_RESULTS) + 3
    assert list(t.experiment[:4]) == ['fine_tune(2)', 'fine_tune(2)', 'fine_tune(1, base_lr=0.1)', 'fine_tune(1, base_lr=0.1)']
    assert list(t.source[:4]) == ['fastai book', 'ours', 'fastai book', 'ours']
    assert list(t.error_rate[:4]) == [0.0805, 0.4, 0.834, 0.9]
    assert (t.experiment.iloc[-1], t.error_rate.iloc[-1], t.profile.iloc[-1]) == ('fine_tune(9)', 0.3, 'smoke')
    assert t.data.iloc[1] == '148 generated pictures, 29 validation'

def train(runs, *args)->dict:
    "Train a tiny smoke model in this process with the CLI; its record"
    with redirect_stdout(StringIO()):
        assert main(['train', '--profile', 'smoke', '--n-per-breed', '4', '--epochs', '1', '--runs', str(runs), *args]) == 0
    (rec,) = [r for r in load_records(runs) if r['run_dir'] not in train.seen]
    train.seen.add(rec['run_dir'])
    return rec
train.seen = set()

def test_same_seed_same_numbers_on_cpu(tmp_path):
    a, b, c = train(tmp_path), train(tmp_path), train(tmp_path, '--seed', '1')
    assert a['run_dir'] != b['run_dir']
    if a['device'] != 'cpu': pytest.skip(f"this test checks CPU determinism; training ran on {a['device']}")
    assert len(a['epochs']) == 2 and a['epochs'] == b['epochs'] and a['settings'] == b['settings']
    assert c['epochs'] != a['epochs']  # the check can fail: another seed gives other numbers

def test_runlog_ignores_validation_and_predictions(tmp_path):
    "`validate` and `get_preds` fire the fit events too; they must not be logged as training epochs"
    from pets_fastai.profiles import get_profile
    from pets_fastai.photos import make_pets
    from pets_fastai.data import pets_dls
    from pets_fastai.learner import pets_learner
    from pets_fastai.records import RunLog
    prof = get_profile('smoke', n_per_breed=5, max_side=200)
    dls = pets_dls(prof, make_pets(tmp_path/'pets', n_per_breed=5, max_side=200))
    log = RunLog()
    learn = pets_learner(dls, prof, cbs=log)
    with learn.no_bar(), learn.no_logging(): learn.fit(1)
    learn.validate(); learn.get_preds()
    assert (len(log.epochs), len(log.fits), log.interrupted) == (1, 1, False)
