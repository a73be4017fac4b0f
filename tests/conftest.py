import os, time
import pytest

# Notebooks and tests run at the `smoke` scale unless PETS_PROFILE says otherwise.
os.environ.setdefault('PETS_PROFILE', 'smoke')
os.environ.setdefault('MPLBACKEND', 'Agg')

_times = {}

@pytest.fixture
def record_time(request):
    "Call with a label; the test's wall time is printed in the summary"
    start = time.time()
    yield
    _times[request.node.callspec.id if hasattr(request.node, 'callspec') else request.node.name] = time.time() - start

def pytest_terminal_summary(terminalreporter):
    if not _times: return
    terminalreporter.section('notebook times (s)')
    for k, v in sorted(_times.items(), key=lambda kv: -kv[1]): terminalreporter.write_line(f'{v:7.1f}  {k}')
    terminalreporter.write_line(f'{sum(_times.values()):7.1f}  all notebooks')
