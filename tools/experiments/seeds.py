"""Lesson 2's training over seeds, for each backbone lesson 6 compares: the evidence behind lesson 6's intervals.

    PETS_PATH=../shared/data/oxford-iiit-pet-sample .venv/bin/python tools/experiments/seeds.py --out pets_fastai/results

For each EfficientNet-Lite at `sample` (lesson 2's photos, split, size and schedule): fastai's `lr_find` on a new
learner from the profile's seed, its `valley` read as the rate (as lesson 2 reads it), then `fine_tuned` (lesson 2)
from each seed at that rate. The record keeps, per backbone, the rate and the finder's curve summary, and per seed
the error rate, which validation photos it got right (`right_photos`, as a string of 0s and 1s in the validation
set's order) and the seconds it took.
"""
import argparse, datetime, tempfile, time
from pathlib import Path

from pets_fastai.profiles import get_profile
from pets_fastai.data import pets_dls
from pets_fastai.learner import pets_learner, fine_tuned
from pets_fastai.evidence import right_photos
from pets_fastai.records import new_record, write_json

LITES = ('efficientnet_lite0', 'efficientnet_lite1', 'efficientnet_lite2')

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--out', type=Path, required=True, help='folder for the record')
    p.add_argument('--seeds', type=int, nargs='+', default=[42, 43, 44])
    p.add_argument('--archs', nargs='+', default=list(LITES))
    a = p.parse_args()
    prof = get_profile('sample')
    dls = pets_dls(prof)
    rows = []
    for arch in a.archs:
        learn = pets_learner(dls, prof, arch=arch)
        learn.path = Path(tempfile.mkdtemp())  # lr_find saves the weights there while it runs
        with learn.no_bar(): lr = float(learn.lr_find(show_plot=False).valley)
        for seed in a.seeds:
            start = time.perf_counter()
            learn = fine_tuned(dls, prof, lr, seed=seed, arch=arch)
            right = right_photos(learn)
            rows.append(dict(arch=arch, lr=lr, seed=seed, error_rate=float(1 - right.mean()),
                             right=''.join('1' if r else '0' for r in right), seconds=round(time.perf_counter() - start, 1)))
            print(arch, f'{lr:.2e}', seed, round(rows[-1]['error_rate'], 3), rows[-1]['seconds'], 's', flush=True)
    rec = new_record('seeds', prof, path=None, valid=[fn.name for fn in dls.valid_ds.items], rows=rows,
                     schedule=dict(freeze_epochs=prof.freeze_epochs, epochs=prof.epochs, bs=prof.bs, sz=prof.sz, item_sz=prof.item_sz))
    fn = a.out/f"seeds-{datetime.datetime.now():%Y%m%d-%H%M%S}.json"
    write_json(rec, fn)
    print('record:', fn)

if __name__ == '__main__': main()
