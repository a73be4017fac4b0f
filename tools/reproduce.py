"""Re-run the lessons at `sample` and hold each number a page quotes to the interval the page states for it.

`python tools/reproduce.py [NB ...]` (`make reproduce`) runs each lesson that lists its headlines (a hidden
`Headlines` cell, from `pets_fastai.evidence`) in a fresh Jupyter kernel, as `make outputs` does, but with another
number of threads than the one that published it (`OMP_NUM_THREADS`: 1 if it was published with more, else 2),
and writes nothing back to the notebook. It prints one row per headline: lesson, quantity, published, re-run,
interval, ok; saves them as a results record (`pets_fastai/results/reproduce/<when>.json`, a folder of its own so that
a new record leaves the pages that show the other records current); and exits 1 if any re-run number falls outside
its interval."""
import argparse, datetime, json, os, sys, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent/'docs'))
import outputs as po
from pets_fastai.evidence import Headlines
from pets_fastai.records import new_record, write_json

def headlines(nb:dict)->dict:
    "The headlines a notebook's `Headlines` cell printed, from its stored outputs"
    for c in nb['cells']:
        if c['cell_type'] == 'code' and 'Headlines(' in po._src(c['source']):
            for o in c.get('outputs', []):
                if txt := po._src(o.get('data', {}).get('text/plain', '')): return Headlines.parse(txt)
    return {}

def rerun(fn:Path, threads:int)->dict:
    "`fn` run again at `sample` with `threads` threads, its outputs not stored"
    with po.photos_beside(fn.parent) as photos:
        return po.execute(fn, po.kernel_env(1) | {'PETS_PATH': str(photos), 'OMP_NUM_THREADS': str(threads)})

def table(lesson:str, published:dict, new:dict)->list[dict]:
    "One row per published headline: its value and interval, the re-run's value, and whether that falls inside"
    return [dict(lesson=lesson, quantity=k, published=v['value'], rerun=new[k]['value'] if k in new else None,
                 lo=v['lo'], hi=v['hi'], ok=k in new and v['lo'] <= new[k]['value'] <= v['hi']) for k, v in published.items()]

def compare(fn:Path)->list[dict]:
    "`table` for lesson `fn`, re-run with another thread count than published it"
    nb = json.loads(fn.read_text())
    if probs := po.stale(nb): raise po.OutputsError(f"{fn.name}: its published outputs are stale ({'; '.join(probs)}): run make outputs first.")
    if not (pub := headlines(nb)): raise po.OutputsError(f"{fn.name} has no stored Headlines output: nothing to compare.")
    was = nb['metadata'][po.KEY].get('threads')
    threads, start = 1 if (was or 1) > 1 else 2, time.time()
    rows = table(fn.stem, pub, headlines(rerun(fn, threads)))
    return [r | dict(threads=dict(published=was, rerun=threads), seconds=round(time.time() - start)) for r in rows]

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('nbs', nargs='*', type=Path, help='lessons to re-run (default: every one with a Headlines cell)')
    a = p.parse_args()
    fns = a.nbs or [fn for fn in sorted((po.ROOT/'nbs').glob('*.ipynb')) if 'Headlines(' in fn.read_text()]
    try: po.kernel_env(1)
    except po.OutputsError as e: sys.exit(f'make reproduce: {e}')
    rows = []
    for fn in fns:
        try: rows += compare(fn.resolve())
        except po.OutputsError as e: sys.exit(f'make reproduce: {e}')
    print(f"{'lesson':14} {'quantity':30} {'published':>9} {'re-run':>9}  {'interval':17} ok")
    for r in rows:
        rerun_txt = 'missing' if r['rerun'] is None else f"{r['rerun']:.3f}"
        print(f"{r['lesson']:14} {r['quantity']:30} {r['published']:9.3f} {rerun_txt:>9}  {r['lo']:.3f} to {r['hi']:.3f}   {'yes' if r['ok'] else 'NO'}")
    out = po.ROOT/'pets_fastai'/'results'/'reproduce'/f"{datetime.datetime.now():%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(exist_ok=True)
    write_json(new_record('reproduce', rows=rows), out)
    print(f'{sum(r["ok"] for r in rows)} of {len(rows)} inside their intervals; record: {out.relative_to(po.ROOT)}')
    if not all(r['ok'] for r in rows): sys.exit(1)

if __name__ == '__main__': main()
