import os

# Notebooks and tests run at the `smoke` scale unless PETS_PROFILE says otherwise.
os.environ.setdefault('PETS_PROFILE', 'smoke')
os.environ.setdefault('MPLBACKEND', 'Agg')
# `make test` runs pytest-xdist workers: each worker (and the commands it starts) gets its share of the cores as
# torch threads, as more would only fight over the same cores. Set before anything imports torch.
if os.environ.get('PYTEST_XDIST_WORKER_COUNT'):
    share = (os.cpu_count() or 1) // int(os.environ['PYTEST_XDIST_WORKER_COUNT'])
    os.environ.setdefault('OMP_NUM_THREADS', str(max(1, share)))

# The lessons that take longest at `sample`, in the order that lets two workers finish together: pytest-xdist's worksteal
# gives each worker a contiguous half of the tests, and an idle worker takes the end of the other's queue, so lesson 5
# runs first while the other worker ends up with lessons 4 and 2. Measured on 2 cores: 1,476 s for 2,818 s of notebooks
# (two workers can do no better than half of that, 1,409 s). In file order lessons 4, 5 and 6 ran one after another on
# one worker: 2,974 s for 4,598 s on a slower machine.
LONGEST = ['05_transfer', '06_arch', '12_cli', '02_learner', '04_lr_find']

def pytest_collection_modifyitems(items):
    "Start the notebooks first, the longest in `LONGEST`'s order: they are the longest tests, so the workers finish together"
    def order(item):
        nb = item.nodeid.split('[')[-1].rstrip(']') if 'test_notebooks.py' in item.nodeid else None
        return (nb is None, LONGEST.index(nb) if nb in LONGEST else len(LONGEST))
    items.sort(key=order)

def pytest_terminal_summary(terminalreporter):
    "Each notebook's run time, slowest first, so the slow ones are visible"
    reps = [r for r in terminalreporter.stats.get('passed', []) + terminalreporter.stats.get('failed', [])
            if r.when == 'call' and 'test_notebook[' in r.nodeid]
    if not reps: return
    terminalreporter.section('notebook times (s)')
    for r in sorted(reps, key=lambda r: -r.duration):
        terminalreporter.write_line(f"{r.duration:7.1f}  {r.nodeid.split('[')[1].rstrip(']')}")
    terminalreporter.write_line(f'{sum(r.duration for r in reps):7.1f}  all notebooks')
