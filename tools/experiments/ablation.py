"""Lesson 9's ablation: every candidate recipe cross-validated on stored features of the real sample, in one record.

    PETS_PATH=../shared/data/oxford-iiit-pet-sample .venv/bin/python tools/experiments/ablation.py --out pets_fastai/results

The body is frozen, so a photo's features do not depend on the fold: each (backbone, size, view) feature set is
computed once for every photo, timed, and kept in `--features` (a scratch folder; a rerun reuses what is there).
Every candidate is then scored by stratified 5-fold cross-validation of its head on those features (mean, std
and each fold), and timed as it would train on every photo: its feature passes plus one fit of its head.
The winner is the fastest candidate within one standard error (`paired_gap`) of the lowest cross-validated error
among those that train no slower than the baseline recipe and need one body.
Last, the baseline recipe (`train_recipe(holdout=True, **BASELINE)`, what `make demo` ran) and the winner
(`train_recipe(**winner)`) run side by side, and their wall times and the goal ratios go in the same record.
"""
import argparse, datetime, os, time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from pets_fastai.profiles import get_profile
from pets_fastai.data import pets_dls
from pets_fastai.learner import pets_learner
from pets_fastai.records import new_record, write_json, git_revision
from pets_fastai.recipe import body_features, fit_head, cv_error, paired_gap, train_recipe, BASELINE

FEATURES = [  # (backbone, size, flip, augmented views): the views each candidate below needs, computed once
    ('efficientnet_lite0', 288, True, 2), ('efficientnet_lite1', 320, True, 0), ('efficientnet_lite2', 300, True, 0),
    ('efficientnet_lite2', 340, True, 0),
]
SEEDS = (42, 43, 44)  # 5 stratified folds dealt three ways: 15 paired folds per candidate, and the spread over the deals

def features(prof, path, arch, sz, flip, augs, store:Path)->dict:
    "Every photo's features for each view at (`arch`, `sz`), with the seconds each view took; computed once, kept in `store`"
    fn = store/f'{arch}-{sz}.pt'
    if fn.exists(): return torch.load(fn, map_location='cpu')  # features are kept on the CPU, where the heads are fitted
    prof = replace(prof, arch=arch, sz=sz, item_sz=sz + 32)
    start = time.perf_counter()
    dls = pets_dls(prof, path, valid_pct=0.)
    learn = pets_learner(dls, prof, speed=False)  # float32 features, as `train_recipe` computes them
    plain = dls.test_dl(dls.train_ds.items, with_labels=True)  # as `photo_features` does, one view at a time
    out = dict(feats={}, seconds=dict(setup=round(time.perf_counter() - start, 2)))
    views = [('plain', plain, False), *[('flip', plain, True)] * flip,
             *[(f'aug{i+1}', dls.train.new(shuffle=False, drop_last=False), False) for i in range(augs)]]
    for view, dl, mirror in views:
        t0 = time.perf_counter()
        out['feats'][view], out['y'] = body_features(learn, dl, flip=mirror)
        out['seconds'][view] = round(time.perf_counter() - t0, 2)
        print(f'{arch} {sz} px {view}: {out["seconds"][view]} s', flush=True)
    out.update(vocab=list(dls.vocab), git_revision=git_revision(), load_avg=os.getloadavg(),
               created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'))
    store.mkdir(parents=True, exist_ok=True)
    torch.save(out, fn)
    return out

L0, L1, L2 = 'efficientnet_lite0', 'efficientnet_lite1', 'efficientnet_lite2'
LOGISTIC = dict(head='logistic', C=1.0)

def candidates()->dict:
    "Row name -> `train_recipe` settings; `sets` lists (backbone, size) pairs whose features are concatenated"
    rows = {"baseline: Lite0 288 px, fastai head, plain + 2 augmented views": BASELINE,
            'reference: Lite0 288 px, logistic regression, plain + flip': dict(arch=L0, sz=288, flip=True, **LOGISTIC),
            'Lite0 288, logistic, plain only': dict(arch=L0, sz=288, **LOGISTIC),
            'Lite0 288, logistic, plain + flip + 2 augmented': dict(arch=L0, sz=288, flip=True, augs=2, **LOGISTIC),
            'Lite0 288, linear layer (fastai, 20 epochs), plain + flip': dict(arch=L0, sz=288, flip=True, head='linear', epochs=20),
            'Lite0 288, fastai head (20 epochs), plain + flip': dict(arch=L0, sz=288, flip=True, head='fastai', epochs=20),
            'Lite1 320, logistic, plain + flip': dict(arch=L1, sz=320, flip=True, **LOGISTIC),
            'Lite2 300, logistic, plain + flip': dict(arch=L2, sz=300, flip=True, **LOGISTIC),
            'Lite2 300, logistic, plain only': dict(arch=L2, sz=300, **LOGISTIC),
            'Lite2 300, logistic C=0.1, plain + flip': dict(arch=L2, sz=300, flip=True, head='logistic', C=0.1),
            'Lite2 300, fastai head (20 epochs), plain + flip': dict(arch=L2, sz=300, flip=True, head='fastai', epochs=20),
            'Lite2 340, logistic, plain + flip': dict(arch=L2, sz=340, flip=True, **LOGISTIC),
            'Lite1 320 + Lite2 300 concatenated, logistic, plain only': dict(sets=[(L1, 320), (L2, 300)], **LOGISTIC),
            'Lite1 320 + Lite2 300 concatenated, logistic, plain + flip': dict(sets=[(L1, 320), (L2, 300)], flip=True, **LOGISTIC),
            'Lite0 288 + Lite2 300 concatenated, logistic, plain + flip': dict(sets=[(L0, 288), (L2, 300)], flip=True, **LOGISTIC)}
    return {k: {**v, 'item_sz': v['sz'] + 32} if 'sz' in v else v for k,v in rows.items()}

def score(name:str, kw:dict, fsets:dict)->dict:
    "Cross-validated error of one candidate on stored features, and its time to train on every photo"
    sets = kw.get('sets') or [(kw['arch'], kw['sz'])]
    views = ['plain'] + ['flip'] * kw.get('flip', False) + [f'aug{i+1}' for i in range(kw.get('augs', 0))]
    feats = {v: torch.cat([fsets[s]['feats'][v] for s in sets], 1) for v in views}
    y = fsets[sets[0]]['y']
    head_kw = {k: v for k,v in kw.items() if k not in ('arch', 'sz', 'item_sz', 'flip', 'augs', 'sets')}
    per_seed = [cv_error(feats, y, views, seed=seed, **head_kw)['cv_folds'] for seed in SEEDS]
    errs = [e for folds in per_seed for e in folds]
    cv = dict(cv_error_rate=float(np.mean(errs)), cv_error_std=float(np.std(errs)),
              cv_seed_spread=float(np.std([np.mean(f) for f in per_seed])), cv_folds=errs)
    start = time.perf_counter()
    fit_head(torch.cat(list(feats.values())), y.repeat(len(views)), len(fsets[sets[0]]['vocab']), **head_kw)
    fit_s = time.perf_counter() - start
    feat_s = sum(fsets[s]['seconds']['setup'] + sum(fsets[s]['seconds'][v] for v in views) for s in sets)
    row = dict(setting=name, **{k: round(v, 4) for k,v in cv.items() if k != 'cv_folds'},
               cv_folds=[round(e, 4) for e in cv['cv_folds']], features_s=round(feat_s, 1), head_s=round(fit_s, 1),
               train_s=round(feat_s + fit_s, 1), settings={k: v for k,v in kw.items() if k != 'sets'},
               sets=[list(s) for s in sets])
    print(f"{name}: {row['cv_error_rate']:.4f} ± {row['cv_error_std']:.4f}, ~{row['train_s']} s to train", flush=True)
    return row

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--features', default='runs/features', help='scratch folder for the stored features (default: runs/features)')
    p.add_argument('--features-only', action='store_true', help='compute the feature sets and stop')
    p.add_argument('--out', default='runs', help='folder for the ablation record (default: runs)')
    p.add_argument('--side-by-side', action='store_true', help="also train BASELINE and the winner with train_recipe, one after the other")
    args = p.parse_args()
    prof, store, load = get_profile('sample'), Path(args.features), os.getloadavg()
    fsets = {(a, sz): features(prof, None, a, sz, flip, augs, store) for a, sz, flip, augs in FEATURES}
    if args.features_only: return
    assert all(torch.equal(f['y'], fsets[(L0, 288)]['y']) for f in fsets.values()), 'every feature set in one photo order'
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # heads on stored features are small: one thread beats two threads fighting a busy machine
    rows = [score(name, kw, fsets) for name, kw in candidates().items()]
    torch.set_num_threads(threads)
    base = rows[0]
    shippable = [r for r in rows if len(r['sets']) == 1 and r['train_s'] <= base['train_s']]
    best = min(shippable, key=lambda r: r['cv_error_rate'])
    winner = min([r for r in shippable if paired_gap(r['cv_folds'], best['cv_folds']) < 1], key=lambda r: r['train_s'])
    print(f"winner: {winner['setting']}", flush=True)
    side = {}
    for name, kw, holdout in [('baseline', BASELINE, True), ('winner', winner['settings'], False)] * args.side_by_side:
        rec = train_recipe(prof, holdout=holdout, **kw)[1]
        side[name] = dict(settings=kw, holdout=holdout, train_s=rec['train_s'], timings=rec['timings'],
                          wall_time_s=rec['wall_time_s'], final=rec['final'], n_train=rec['data']['n_train'])
        print(name, side[name], flush=True)
    goal = dict(cv_error_ratio=round(winner['cv_error_rate'] / base['cv_error_rate'], 3),
                train_time_ratio=round(winner['train_s'] / base['train_s'], 3))  # both as timed in this run, on all 460 photos
    if side: goal['train_recipe_time_ratio'] = round(side['winner']['train_s'] / side['baseline']['train_s'], 3)
    print(f'ratios to the baseline (winner / baseline): {goal}', flush=True)
    rec = new_record('ablation', prof, os.environ.get('PETS_PATH'), folds=5, fold_seeds=list(SEEDS),
                     n_photos=len(fsets[(L0, 288)]['y']), load_avg=[load, os.getloadavg()],
                     features={f'{a}-{sz}': {k: f[k] for k in ('seconds', 'created', 'git_revision', 'load_avg')}
                               for (a, sz), f in fsets.items()},
                     rows=rows, best=best['setting'], winner=winner['setting'], side_by_side=side, goal=goal)
    rec['data']['path'] = Path(rec['data']['path']).name  # a shipped record names the photos' folder, not where it lay
    Path(args.out).mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.fromisoformat(rec['created']).strftime('%Y%m%d-%H%M%S')
    print(f"saved: {write_json(rec, Path(args.out)/f'ablation-{stamp}.json')}")

if __name__ == '__main__': main()
