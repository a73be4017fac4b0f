"""The `sample` recipe's ablation on real photos, and the final recipe's results record.

    PETS_PATH=../shared/data/oxford-iiit-pet-sample .venv/bin/python tools/ablation.py --seeds 42 1 2  # every row
    PETS_PATH=../shared/data/oxford-iiit-pet-sample .venv/bin/python tools/ablation.py --final --seeds 42 1 2  # recorded

Each row is one full, timed run (data loaders to held-out error) on this machine, as in nbs/09_recipe.ipynb.
Each seed draws a different 20% of the photos for validation, so averaging over seeds shows which differences
are more than the luck of one split of 92 photos. The table is printed as markdown and saved, with the machine's
load average, to runs/ablation-<time>.json. `--final` trains `RECIPE` once per seed and saves each results record
in a new folder under runs/.

The figures lesson 9 shows ship with the library in pets_fastai/results/: to renew them, run both from a clean
checkout with `--runs pets_fastai/results`, and `python -m pets_fastai.bench --out pets_fastai/results/bench-<date>.json`,
then delete the records they replace (lesson 9 reads the newest ablation and bench, and every recipe record)."""
import argparse, datetime, os
from dataclasses import replace
from pathlib import Path

from pets_fastai.profiles import get_profile
from pets_fastai.records import new_run_dir, save_record, write_json, hardware, git_revision, git_dirty
from pets_fastai.recipe import train_recipe, ablation, RECIPE, ABLATION

def final(prof, seeds, runs):
    "Train `RECIPE` once per seed; save and print each results record"
    for seed in seeds:
        load = os.getloadavg()
        rec = train_recipe(replace(prof, seed=seed), **RECIPE, experiment='recipe (sample)')[1]
        rec['load_avg'] = [load, os.getloadavg()]
        run_dir = new_run_dir(runs, prof.arch, prof.name + '-recipe')
        save_record(rec, run_dir)
        tta = f" (without TTA {rec['final']['error_rate_plain']:.4f})" if RECIPE['tta'] else ''
        print(f"seed {seed}: held-out error {rec['final']['error_rate']:.4f}{tta} on {rec['data']['n_valid']} photos; "
              f"{rec['wall_time_s']:.1f} s wall, {rec['cpu_s']:.1f} s CPU; "
              f"timings {rec['timings']}; load average {load[0]:.1f} -> {os.getloadavg()[0]:.1f}\n"
              f"record: {run_dir/'record.json'}", flush=True)

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--final', action='store_true', help='train RECIPE once per seed and save each record under --runs')
    p.add_argument('--seeds', nargs='+', type=int, default=[42], help='split seeds to run every row with (default: 42)')
    p.add_argument('--only', nargs='*', help='run only the ABLATION rows whose names contain one of these words')
    p.add_argument('--no-baseline', action='store_true', help="skip the fastai-defaults row")
    p.add_argument('--runs', default='runs', help='folder of run folders (default: runs)')
    args = p.parse_args()
    prof = get_profile('sample')
    if args.final: return final(prof, args.seeds, args.runs)
    load = os.getloadavg()
    rows = {k: v for k,v in ABLATION.items() if not args.only or any(w in k for w in args.only)}
    abl = ablation(prof, rows, baseline_epochs=None if args.no_baseline else 2, seeds=args.seeds, show=True)
    print(abl.to_markdown(index=False))
    summary = abl.groupby('setting', sort=False)[['error_rate', 'error_plain', 'seconds', 'cpu_s']].mean().round(4)
    print(f'\nmean over seeds {args.seeds}:\n' + summary.to_markdown())
    print(f'load average {load[0]:.1f} at the start, {os.getloadavg()[0]:.1f} at the end; hardware: {hardware()}')
    now = datetime.datetime.now(datetime.timezone.utc)
    Path(args.runs).mkdir(parents=True, exist_ok=True)
    fn = write_json(dict(kind='ablation', created=now.isoformat(timespec='seconds'), hardware=hardware(), seeds=args.seeds,
                         git_revision=git_revision(), git_dirty=git_dirty(),
                         load_avg=[load, os.getloadavg()], rows=abl.to_dict('records'),
                         mean=summary.reset_index().to_dict('records')),
                    Path(args.runs)/f'ablation-{now:%Y%m%d-%H%M%S}.json')
    print(f'saved: {fn}')

if __name__ == '__main__': main()
