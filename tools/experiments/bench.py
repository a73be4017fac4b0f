"""Throughput on this machine: fastai's defaults against our settings, as a table of ratios.

Run `python tools/experiments/bench.py` (or `make bench`). First, the CPU cost of feeding a batch at `full`'s sizes
(photos presized to 460 px, trained at 224, batches of 64): images per CPU-second of everything before the batch
transforms (reading, presizing's crop, collation), on one core with one thread, through the JPEG copies that
`presized` keeps (what `pets_dls` read before the pixel store) and through the pixel store (`pixel_store`, what it
reads now), and their ratio. Then, for each configuration, in a fresh process, it measures

- data pipeline images/s: training batches from the `DataLoader` alone (decode, presize, batch augmentations);
- training images/s: `fit` steps of the whole network, unfrozen, data loading included;
- peak memory: the largest proportional set size (PSS: shared pages split between the processes that share
  them) of the process and its data-loader workers together, sampled every 50 ms from /proc (on systems
  without /proc, the main process's peak resident set size); on a GPU also the most memory its tensors held.

Every clock is read after the device has finished its queued work (`devices.sync`): CUDA runs asynchronously.

The first batch of each measurement (worker start-up, first allocations) is not timed. The last row, "ours", is the
product's own code path: `pets_dls` and `pets_learner` with their defaults and nothing overridden, so it measures
what lessons and `pets-fastai train` get. The rows above it switch those defaults off and back on one at a time.
For "ours" it also times the same training steps on one batch already on the device, the speed of the model alone,
and prints end-to-end training as a fraction of it: 1 means the data never keeps the device waiting.
The presized copy and its pixels are brought up to date once, outside the timed runs.
"""
import argparse, json, os, resource, subprocess, sys, threading, time
from pathlib import Path

__all__ = ['FEEDS', 'CONFIGS', 'PeakMemory', 'measure_feed', 'measure', 'bench_table', 'main']

FEEDS = {'JPEG copies (before)': False, 'pixel store (ours)': True}  # name -> does `pets_block` read the pixel store?
FEED_SIZES = dict(item_sz=460, sz=224, bs=64)  # `full`'s

CONFIGS = {  # name -> settings; each row adds one change to the row above it; None: the product's default
    'fastai defaults': dict(num_workers='fastai', cache=False, channels_last=False),
    'num_workers=0': dict(num_workers=0, cache=False, channels_last=False),
    '+ presized pixel store': dict(num_workers=0, cache=True, channels_last=False),
    '+ channels_last': dict(num_workers=0, cache=True, channels_last=True),
    'ours: pets_dls + pets_learner': dict(num_workers=None, cache=None, channels_last=None),
}

def _pss_mb(pid:int)->float:
    "Proportional set size of process `pid` in MB, 0 if it has gone"
    try: lines = Path(f'/proc/{pid}/smaps_rollup').read_text().splitlines()
    except OSError: return 0.  # the process ended between listing and reading
    return sum(int(l.split()[1]) for l in lines if l.startswith('Pss:')) / 1024

def _children(pid:int)->list[int]:
    "Process ids of the children of `pid`"
    kids = []
    for task in Path(f'/proc/{pid}/task').glob('*/children'):
        try: kids += [int(k) for k in task.read_text().split()]
        except OSError: continue  # the thread ended while we listed it
    return kids

class PeakMemory:
    "Context manager: the peak memory of this process and its children together, in MB, as `.mb`"
    def __init__(self, every:float=0.05): self.every, self.mb, self.proc = every, 0., Path('/proc/self/smaps_rollup').exists()
    def _sample(self):
        while not self.done.wait(self.every):
            pid = os.getpid()
            self.mb = max(self.mb, sum(_pss_mb(p) for p in [pid, *_children(pid)]))
    def __enter__(self):
        self.done = threading.Event()
        if self.proc: threading.Thread(target=self._sample, daemon=True).start()
        return self
    def __exit__(self, *exc):
        self.done.set()
        if not self.proc: self.mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

def measure_feed(path:str, # the photos
                 store:bool, # read the pixel store? False: decode the JPEG copies
                 batches:int, # timed batches
                 item_sz:int=FEED_SIZES['item_sz'], sz:int=FEED_SIZES['sz'], bs:int=FEED_SIZES['bs'])->dict:
    "Images per CPU-second and per second of everything before the batch transforms, one core and one thread, in this process"
    import torch
    torch.set_num_threads(1)
    from fastai.vision.all import Pipeline
    from pets_fastai.profiles import get_profile
    from pets_fastai.data import pets_block, get_pet_images
    from pets_fastai.presize import presized, pixel_store
    prof = get_profile('smoke', item_sz=item_sz, sz=sz, bs=bs)
    folder = presized(get_pet_images(path), item_sz)
    dls = pets_block(prof, store=pixel_store(folder, item_sz) if store else None).dataloaders(folder, bs=bs, num_workers=0, device='cpu')
    dl = dls.train.new(after_batch=Pipeline([]))  # the batch transforms run on the device: not the CPU's work
    if len(dl) == 0: raise ValueError(f"{path} has fewer than {bs} training photos: feeding is measured on batches of {bs}.")
    def batch_stream():
        while True: yield from dl
    it = batch_stream()
    next(it)
    n, wall, cpu = 0, time.perf_counter(), time.process_time()
    for _ in range(batches): n += len(next(it)[0])
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return dict(ips_per_cpu_s=n / cpu, ips=n / wall, images=n)

class OneBatch:
    "A training loader that yields one batch, already on its device, `n` times: the model's speed without the data's"
    def __init__(self, b:tuple, n:int): self.b, self.n = b, n
    def __len__(self): return self.n
    def __iter__(self): return (self.b for _ in range(self.n))

def measure(path:str,      # the photos
            arch:str,      # backbone name in `pets_fastai.backbones.ARCHS`
            sz:int,        # training size
            item_sz:int,   # presize
            bs:int,        # batch size
            batches:int,   # timed batches
            num_workers:int|str|None, # data-loader workers; 'fastai': fastai's default; None: `pets_dls`'s
            cache:bool|None,          # read from the presized copy? None: `pets_dls`'s default
            channels_last:bool|None,  # channels_last memory order? None: `pets_learner`'s default
           )->dict:
    "Data-pipeline and training images/s and peak memory of one configuration, in this process"
    import torch
    from fastai.callback.core import Callback, CancelFitException
    from fastai.torch_core import defaults
    from pets_fastai.profiles import get_profile
    from pets_fastai.data import pets_dls
    from pets_fastai.learner import pets_learner
    from pets_fastai.devices import sync
    from pets_fastai.costs import reset_peak_memory, peak_memory

    class Timer(Callback):
        "Time `batches` training steps after the first, then stop"
        def before_fit(self): self.i = 0
        def after_batch(self):
            self.i += 1
            if self.i == 1: sync(self.dls.device); self.start = time.perf_counter()
            if self.i == batches + 1:
                sync(self.dls.device)
                self.seconds = time.perf_counter() - self.start
                raise CancelFitException()

    prof = get_profile('smoke', arch=arch, pretrained=False, sz=sz, item_sz=item_sz, bs=bs)
    if num_workers == 'fastai': num_workers = min(16, defaults.cpus)  # what fastai's DataLoader uses when not told
    kw = {k: v for k,v in dict(num_workers=num_workers, cache=cache).items() if v is not None}
    with PeakMemory() as mem:
        dls = pets_dls(prof, path, **kw)
        if len(dls.train) <= batches:
            raise ValueError(f"{path} gives {len(dls.train)} training batches of {bs}: time fewer (--batches {len(dls.train) - 1} at most).")
        reset_peak_memory(dls.device)
        it = iter(dls.train)
        next(it)
        sync(dls.device); start = time.perf_counter()
        for _ in range(batches): next(it)
        sync(dls.device); data_s = time.perf_counter() - start
        del it
        learn = pets_learner(dls, prof)
        learn.unfreeze()
        if channels_last: learn.to_channelslast(use_amp=False)
        elif channels_last is not None: learn.to_contiguous()  # whatever pets_learner chose, plain memory order
        timer = Timer()
        with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-4, cbs=timer)
        train_s, alone_ips, workers = timer.seconds, None, dls.train.fake_l.num_workers
        if num_workers is None:  # ours: the same steps on one batch that is already on the device
            learn.dls.loaders[0] = OneBatch(learn.dls.train.one_batch(), batches + 1)
            with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-4, cbs=timer)
            alone_ips = batches * bs / timer.seconds
    gpu = torch.device(dls.device or 'cpu').type == 'cuda'
    return dict(data_ips=batches * bs / data_s, train_ips=batches * bs / train_s, alone_ips=alone_ips, peak_mb=mem.mb,
                gpu_peak_mb=peak_memory(dls.device) / 2**20 if gpu else None, num_workers=workers, channels_last=learn.model[0][0].weight.is_contiguous(memory_format=torch.channels_last))

def bench_table(rows:dict)->str:
    "Markdown table of `rows` (name -> `measure` result), with ratios to the first row"
    base = next(iter(rows.values()))
    gpu = base.get('gpu_peak_mb') is not None
    out = ['| configuration | workers | data img/s | × | train img/s | × | peak memory MB | × |' + ' GPU peak MB |' * gpu,
           '|---|---:|---:|---:|---:|---:|---:|---:|' + '---:|' * gpu]
    for name, r in rows.items():
        out.append(f"| {name} | {r['num_workers']} | {r['data_ips']:.1f} | {r['data_ips']/base['data_ips']:.2f} | "
                   f"{r['train_ips']:.1f} | {r['train_ips']/base['train_ips']:.2f} | {r['peak_mb']:.0f} | "
                   f"{r['peak_mb']/base['peak_mb']:.2f} |" + (f" {r['gpu_peak_mb']:.0f} |" if gpu else ''))
    return '\n'.join(out)

def _default_path()->str:
    "`$PETS_PATH`, else the `smoke` profile's generated pictures"
    if os.environ.get('PETS_PATH'): return os.environ['PETS_PATH']
    from pets_fastai.profiles import get_profile
    from pets_fastai.photos import get_pets
    return str(get_pets(get_profile('smoke')))

def main(argv:list|None=None):
    "Measure every configuration in `CONFIGS` in its own process and print the table"
    p = argparse.ArgumentParser(prog='python tools/experiments/bench.py', description=__doc__.splitlines()[0])
    p.add_argument('--path', default=None, help='folder of pet photos (default: $PETS_PATH, else generated pictures)')
    p.add_argument('--arch', default='efficientnet_lite0', help='backbone (default: efficientnet_lite0)')
    p.add_argument('--sz', type=int, default=160, help='training image size (default: 160)')
    p.add_argument('--item-sz', type=int, default=None, help="presize (default: 1.25 times --sz; `full`'s is 460 at 224)")
    p.add_argument('--bs', type=int, default=32, help='batch size (default: 32)')
    p.add_argument('--batches', type=int, default=8, help='timed batches per measurement (default: 8)')
    p.add_argument('--out', help='also save the settings and figures as JSON to this new file')
    p.add_argument('--feed-batches', type=int, default=12, help='timed batches of 64 per feeding measurement (default: 12)')
    p.add_argument('--config', choices=list(CONFIGS), help=argparse.SUPPRESS)  # one configuration, in a child process
    p.add_argument('--feed', choices=list(FEEDS), help=argparse.SUPPRESS)      # one feeding measurement, in a child process
    args = p.parse_args(argv)
    path = args.path or _default_path()
    if not Path(path).is_dir(): p.error(f"--path {path} is not a folder: pass a folder of pet photos.")
    common = dict(path=path, arch=args.arch, sz=args.sz, item_sz=args.item_sz or round(args.sz * 1.25), bs=args.bs, batches=args.batches)
    if args.config:
        print(json.dumps(measure(**common, **CONFIGS[args.config])))
        return
    if args.feed:
        print(json.dumps(measure_feed(path, FEEDS[args.feed], args.feed_batches)))
        return
    if args.out and Path(args.out).exists(): p.error(f"--out {args.out} exists: choose a new file name.")
    load = os.getloadavg()
    print(f'photos: {path}; {args.arch} at {args.sz} px, bs={args.bs}, {args.batches} timed batches; '
          f'{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}', flush=True)
    start = time.perf_counter()
    from pets_fastai.presize import presized, pixel_store
    from pets_fastai.data import get_pet_images
    for item_sz in (common['item_sz'], FEED_SIZES['item_sz']):  # brought up to date once, outside the timed runs
        pixel_store(presized(get_pet_images(path), item_sz), item_sz)
    print(f'presized copies and pixel stores ready in {time.perf_counter() - start:.1f} s', flush=True)
    feeds = {}
    for name in FEEDS:
        r = subprocess.run([sys.executable, __file__, '--feed', name, '--path', path, '--feed-batches', str(args.feed_batches)],
                           capture_output=True, text=True)
        if r.returncode: sys.exit(f"Measuring feeding through {name!r} failed:\n{r.stderr[-3000:]}")
        feeds[name] = json.loads(r.stdout.strip().splitlines()[-1])
    before, ours = (feeds[k]['ips_per_cpu_s'] for k in FEEDS)
    feed_ratio = ours / before
    print(f"feeding at full's sizes (presize {FEED_SIZES['item_sz']} px, batches of {FEED_SIZES['bs']}), one core: "
          + ', '.join(f"{k} {v['ips_per_cpu_s']:.0f} images per CPU-second" for k, v in feeds.items())
          + f": {feed_ratio:.1f}x fewer CPU-seconds per image", flush=True)
    rows = {}
    for name in CONFIGS:
        cmd = [sys.executable, __file__, '--config', name, '--path', path, '--arch', args.arch,
               '--sz', str(args.sz), '--item-sz', str(common['item_sz']), '--bs', str(args.bs), '--batches', str(args.batches)]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode: sys.exit(f"Measuring {name!r} failed:\n{r.stderr[-3000:]}")
        rows[name] = json.loads(r.stdout.strip().splitlines()[-1])
        print(f"{name}: train {rows[name]['train_ips']:.1f} img/s", flush=True)
    print(bench_table(rows))
    last = rows[list(CONFIGS)[-1]]
    alone_ratio = last['train_ips'] / last['alone_ips']
    print(f"ours end to end {last['train_ips']:.1f} img/s; the model alone, on one batch already on the device, "
          f"{last['alone_ips']:.1f} img/s: {alone_ratio:.2f}x of its speed")
    print(f'load average {os.getloadavg()[0]:.1f} at the end; ratios are to the first row, measured in this run')
    if args.out:
        from pets_fastai.records import new_record, write_json
        rec = new_record('bench', None, path, cpus=os.cpu_count(), load_avg=[load, os.getloadavg()], rows=rows, feeds=feeds,
                         feed_per_core_ratio=feed_ratio, end_to_end_vs_alone=alone_ratio)
        rec['settings'] = {**common, 'configs': CONFIGS, 'feed_sizes': FEED_SIZES, 'feed_batches': args.feed_batches}  # the benchmark's own settings: it runs no profile
        rec['data']['path'] = rec['settings']['path'] = Path(path).name  # a shipped record names the photos' folder, not where it lay
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        write_json(rec, Path(args.out))
        print(f'saved: {args.out}')

if __name__ == '__main__': main()
