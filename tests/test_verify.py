"Bad input and faults: every case builds its own bad input, checks the message or the skip report, and that the user's files are unchanged."
import hashlib, io, json, os, shutil, signal, struct, unicodedata, urllib.error, warnings, zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from fastai.vision.all import Callback

from pets_fastai.data import BREEDS, PetsDownloadError, make_pets, pets_block, pets_dls, untar_pets
from pets_fastai.learner import WeightsUnavailableError, pets_learner
from pets_fastai.profiles import get_profile
from pets_fastai.verify import (BatchTooLargeError, DeviceUnavailableError, SafeTraining, check_device, name_problems,
                                oom_advice, resume_training, sniff_format, training_status, verified_items, verify_images)


@pytest.fixture(autouse=True)
def python_ctrl_c():
    "Ctrl-C raises KeyboardInterrupt, as in a terminal, even where the test runner was started with SIGINT ignored"
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, old)

# ---------------------------------------------------------------- building bad input

def img_bytes(img, fmt='JPEG', **kwargs):
    buf = io.BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()

def png_of_size(w, h):
    "A valid all-black 1-bit PNG of w×h pixels, built without holding its pixels"
    def chunk(kind, data): return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))
    return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 1, 0, 0, 0, 0))
            + chunk(b'IDAT', zlib.compress(bytes((1 + (w + 7)//8) * h), 9)) + chunk(b'IEND', b''))

PHOTO = Image.fromarray(np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8))
GOOD = img_bytes(PHOTO)

def hashes(root):
    "SHA-256 of every file under root (hidden included) and the set of all paths, folders included"
    root = Path(root)
    return ({str(f.relative_to(root)): hashlib.sha256(f.read_bytes()).hexdigest() for f in root.rglob('*') if f.is_file()},
            sorted(str(p.relative_to(root)) for p in root.rglob('*')))

@pytest.fixture
def folder(tmp_path):
    "Write files into a fresh folder; on teardown, check verification left every byte and name as it was"
    root = tmp_path/'photos'
    root.mkdir()
    state = {}
    def make(files:dict, links:dict|None=None):
        for name, data in files.items():
            (root/name).parent.mkdir(parents=True, exist_ok=True)
            (root/name).write_bytes(data)
        for name, target in (links or {}).items(): os.symlink(root/target, root/name)
        state['before'] = hashes(root)
        return root
    yield make
    if 'before' in state: assert hashes(root) == state['before'], 'verification changed the user files'

def verify_one(make, name, data, **kwargs):
    "Verify a folder holding a good photo and `name`; return (problems, notes) for `name` and the report"
    root = make({'beagle_1.jpg': GOOD, name: data})
    report = verify_images(root, **kwargs)
    fn = root/name
    assert root/'beagle_1.jpg' in report.items
    return ([x.reason for x in report.problems if x.fn == fn], [x.reason for x in report.notes if x.fn == fn], report)

def assert_skipped(report, fn):
    assert fn in report.skipped and fn not in report.items
    assert fn.name in report._repr_markdown_()

def assert_kept(report, fn):
    assert fn in report.items and fn not in report.skipped

# ---------------------------------------------------------------- unreadable images: skipped with a reason

@pytest.mark.parametrize('data,words', [
    (b'', 'is empty (0 bytes)'),
    (GOOD[:len(GOOD)//2], 'truncated'),
    (b'just some notes, not a photo\n', 'is not an image but text'),
    (b'<!DOCTYPE html>\n<html><head><title>404</title></head></html>', 'is not an image but an HTML page'),
    (b'\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X', 'is not an image PIL can read (it starts with bytes 00 05 16 07'),
    (img_bytes(PHOTO, 'PNG')[:200], 'is really a PNG, damaged'),
    (b'\x1f\x8b\x08\x00' + bytes(40), 'is really a gzip archive'),
    (png_of_size(14_000, 14_000), 'refuses to open it as a possible decompression bomb'),
], ids=['zero-byte', 'truncated-jpeg', 'text', 'html', 'unknown-bytes', 'truncated-png-named-jpg', 'gzip', 'bomb'])
def test_unreadable_images_are_skipped(folder, data, words):
    problems, notes, report = verify_one(folder, 'pug_1.jpg', data)
    assert len(problems) == 1 and words in problems[0], problems
    assert_skipped(report, report.path/'pug_1.jpg')
    assert report.counts['skipped'] == 1 and report.counts['items'] == 1

def test_unreadable_file_permission(folder, monkeypatch):
    root = folder({'beagle_1.jpg': GOOD, 'pug_1.jpg': GOOD})
    real_open = open
    def deny(fn, *args, **kwargs):
        if Path(fn).name == 'pug_1.jpg': raise PermissionError(13, 'Permission denied', str(fn))
        return real_open(fn, *args, **kwargs)
    monkeypatch.setattr('pets_fastai.verify.open', deny, raising=False)
    report = verify_images(root)
    assert_skipped(report, root/'pug_1.jpg')
    assert 'cannot be read (Permission denied): fix its permissions, e.g. chmod u+r' in report.problems[0].reason

@pytest.mark.skipif(os.geteuid() == 0, reason='root reads files whatever their permissions')
def test_unreadable_file_chmod(folder):
    root = folder({'beagle_1.jpg': GOOD, 'pug_1.jpg': GOOD})
    (root/'pug_1.jpg').chmod(0)
    try: report = verify_images(root)
    finally: (root/'pug_1.jpg').chmod(0o644)
    assert_skipped(report, root/'pug_1.jpg')

# ---------------------------------------------------------------- unusual but valid images: kept, with a note

E = Image.Exif()
E[0x0112] = 6

@pytest.mark.parametrize('data,words', [
    (img_bytes(PHOTO, 'GIF'), 'is really a GIF, named .jpg: PIL reads images by content, so fastai loads it'),
    (img_bytes(PHOTO, 'PNG'), 'is really a PNG, named .jpg'),
    (img_bytes(PHOTO.convert('L')), 'is grayscale: PILImage.create copies its one channel'),
    (img_bytes(PHOTO.convert('CMYK')), 'is CMYK'),
    (img_bytes(PHOTO.convert('RGBA'), 'PNG'), 'has transparency (RGBA): converting to RGB drops it'),
    (img_bytes(PHOTO.convert('P'), 'PNG'), 'uses a colour palette'),
    (img_bytes(Image.fromarray(np.asarray(PHOTO.convert('L'), np.uint16) * 257), 'PNG'), 'has 16-bit pixels: PILImage.create clips them at 255'),
    (img_bytes(PHOTO.resize((40, 30))), 'is 40×30, smaller than the training size 224'),
    (png_of_size(10_000, 10_000), "10000×10000 (100 megapixels), over PIL's decompression-bomb limit"),
    (img_bytes(PHOTO, exif=E), 'has EXIF orientation 6: fastai ignores it'),
], ids=['gif', 'png', 'grayscale', 'cmyk', 'rgba', 'palette', '16-bit', 'tiny', 'huge', 'exif-rotated'])
def test_unusual_images_are_kept_with_a_note(folder, data, words):
    problems, notes, report = verify_one(folder, 'pug_1.jpg', data)
    assert problems == [] and any(words in n for n in notes), notes
    assert_kept(report, report.path/'pug_1.jpg')

@pytest.mark.parametrize('orientation', [0, 1])
def test_upright_exif_orientation_gets_no_note(folder, orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    problems, notes, report = verify_one(folder, 'pug_1.jpg', img_bytes(PHOTO, exif=exif))
    assert (problems, notes) == ([], [])

def test_notes_describe_what_fastai_does(folder):
    "The notes' claims: fastai converts to RGB, clips 16-bit images to white and ignores EXIF rotation"
    from fastai.vision.all import PILImage
    root = folder({'a_1.jpg': img_bytes(Image.fromarray(np.asarray(PHOTO.convert('L'), np.uint16) * 257), 'PNG'),
                   'b_1.jpg': img_bytes(PHOTO, exif=E), 'c_1.jpg': img_bytes(PHOTO, 'GIF')})
    assert (np.asarray(PILImage.create(root/'a_1.jpg')) == 255).mean() > 0.9
    assert PILImage.create(root/'b_1.jpg').size == PHOTO.size
    assert PILImage.create(root/'c_1.jpg').mode == 'RGB'

def test_animated_gif(folder):
    frames = [PHOTO, PHOTO.rotate(90)]
    buf = io.BytesIO()
    frames[0].save(buf, 'GIF', save_all=True, append_images=frames[1:])
    problems, notes, report = verify_one(folder, 'pug_1.gif', buf.getvalue(), pat=r'^(.+)_\d+\.(?:jpg|gif)$')
    assert problems == [] and any('animated (2 frames): fastai uses the first frame only' in n for n in notes)

def test_sniff_format():
    assert [sniff_format(b) for b in (GOOD[:16], img_bytes(PHOTO, 'PNG')[:16], b'GIF89a', b'<html>', b'hello', b'\x00\x01')] == \
        ['JPEG', 'PNG', 'GIF', 'HTML page', 'text', None]

# ---------------------------------------------------------------- names

@pytest.mark.parametrize('name,words', [
    ('beagle_2.jpeg', "has the extension '.jpeg' but the pattern takes only '.jpg' (case counts): rename it to 'beagle_2.jpg'"),
    ('beagle_2.JPG', "rename it to 'beagle_2.jpg'"),
    ('beagle_2.png', "is a .png but the pattern takes only '.jpg': convert it to JPEG, or widen the pattern"),
    ('beagle 2.jpg', 'has a space, which the pattern does not allow'),
    ('great pyrenees_2.jpg', "would get the label 'great pyrenees', with a space, a class of its own"),
    ('beagle.jpg', 'does not match the pattern: name it <label>_<number>.jpg'),
    ('bëagle.jpg', "it has non-ASCII characters 'ë'"),
    (unicodedata.normalize('NFD', 'Bengäl_2.jpg'), 'decomposed accents (Unicode NFD'),
], ids=['jpeg', 'JPG', 'png', 'space', 'space-in-label', 'no-number', 'non-ascii', 'nfd'])
def test_bad_names_are_skipped(folder, name, words):
    data = img_bytes(PHOTO, 'PNG') if name.endswith('.png') else GOOD
    problems, notes, report = verify_one(folder, name, data)
    assert any(words in p for p in problems), problems
    assert_skipped(report, report.path/name)

def test_labels_outside_the_vocab(folder):
    problems, notes, report = verify_one(folder, 'Bengäl_2.jpg', GOOD, vocab=BREEDS)
    assert "would get the label 'Bengäl', which is not one of the 37 known labels" in problems[0]
    assert_skipped(report, report.path/'Bengäl_2.jpg')

def test_non_ascii_label_without_vocab_is_a_note():
    assert name_problems('Bengäl_2.jpg') == ([], ["has non-ASCII characters 'ä' in its label 'Bengäl': check every "
                                                  "file of that class spells it the same way"])

def test_hidden_nested_and_non_image_files(folder):
    root = folder({'beagle_1.jpg': GOOD, '.beagle_2.jpg': GOOD, '._beagle_1.jpg': b'\x00\x05\x16\x07',
                   '.thumbs/beagle_3.jpg': GOOD, 'extra/deeper/beagle_4.jpg': GOOD, 'notes.txt': b'x', 'beagle_5': GOOD})
    report = verify_images(root)
    assert report.items == [root/'beagle_1.jpg', root/'extra/deeper/beagle_4.jpg']
    ignored = {x.fn.name: x.reason for x in report.ignored}
    assert ignored == {'.thumbs': 'is a hidden folder: get_image_files does not look inside',
                       '.beagle_2.jpg': 'is hidden: get_image_files skips it', '._beagle_1.jpg': 'is hidden: get_image_files skips it',
                       'notes.txt': 'has no image extension (.txt): get_image_files skips it',
                       'beagle_5': 'is a JPEG without an image extension, so get_image_files skips it: rename it to end in .jpg'}
    assert [x.reason for x in report.notes] == ['is in the subfolder extra/deeper/: get_image_files takes it; its label still comes from its name']

# ---------------------------------------------------------------- folders

def test_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match='does not exist: pass the folder that holds the pet photos'):
        verify_images(tmp_path/'nowhere')

def test_file_instead_of_folder(folder, tmp_path):
    root = folder({'beagle_1.jpg': GOOD, 'oxford-iiit-pet.tgz': b'\x1f\x8b\x08\x00'})
    with pytest.raises(NotADirectoryError, match=r'is a file, not a folder: pass the folder .* such as'):
        verify_images(root/'beagle_1.jpg')
    with pytest.raises(NotADirectoryError, match='extract it first'): verify_images(root/'oxford-iiit-pet.tgz')

def test_empty_folder(tmp_path):
    report = verify_images(tmp_path)
    assert report.counts == dict(files=0, items=0, skipped=0, folder_problems=0, notes=0, ignored=0)
    assert 'is this the right folder?' in report._repr_markdown_()
    with pytest.raises(FileNotFoundError, match='No usable images'): verified_items(tmp_path)

def test_unreadable_folder(folder, monkeypatch):
    root = folder({'beagle_1.jpg': GOOD, 'locked/beagle_2.jpg': GOOD})
    real_scandir = os.scandir
    def deny(p='.'):
        if Path(p).name in ('photos', 'locked') and deny.target == Path(p).name: raise PermissionError(13, 'Permission denied', str(p))
        return real_scandir(p)
    monkeypatch.setattr(os, 'scandir', deny)
    deny.target = 'locked'
    report = verify_images(root)
    assert report.items == [root/'beagle_1.jpg']
    assert report.problems[0].kind == 'folder' and report.problems[0].fn == root/'locked'
    assert "cannot be read (Permission denied), so its images are left out: give yourself read access" in report.problems[0].reason
    deny.target = 'photos'
    with pytest.raises(PermissionError, match=r"Cannot read the folder .*photos \(Permission denied\): give yourself read access"):
        verify_images(root)

def test_broken_link_is_skipped(folder):
    root = folder({'beagle_1.jpg': GOOD}, links={'pug_1.jpg': 'gone.jpg'})
    report = verify_images(root)
    assert_skipped(report, root/'pug_1.jpg')
    assert report.problems[0].reason == f"is a link to {root/'gone.jpg'}, which does not exist: fix or remove the link"

def test_folder_link_loop_is_reported_once(folder):
    "get_image_files follows a link back to a parent round and round, taking every photo again each time"
    from fastai.data.all import get_image_files
    root = folder({'beagle_1.jpg': GOOD, 'sub/pug_1.jpg': GOOD}, links={'sub/loop': '.'})
    assert len(get_image_files(root)) > 10
    report = verify_images(root)
    assert report.items == [root/'beagle_1.jpg', root/'sub/pug_1.jpg']
    assert [(x.fn, x.kind) for x in report.problems] == [(root/'sub'/'loop', 'folder')]
    assert 'which is scanned already' in report.problems[0].reason and report.counts['folder_problems'] == 1

def test_oxford_layout_reads_images_folder(folder):
    root = folder({'images/beagle_1.jpg': GOOD, 'annotations/list.txt': b'x'})
    assert verify_images(root).items == [root/'images/beagle_1.jpg']

# ---------------------------------------------------------------- the report and the data path

def test_report_save_is_new_and_outside(folder, tmp_path):
    root = folder({'beagle_1.jpg': GOOD, 'beagle_2.jpg': b''})
    report = verify_images(root)
    fn = report.save(tmp_path/'verify.json')
    data = json.loads(fn.read_text())
    assert data['counts'] == report.counts and data['items'] == ['beagle_1.jpg']
    assert data['problems'] == [dict(file='beagle_2.jpg', kind='image', reason='is empty (0 bytes), often a failed download: replace it')]
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith('.tmp')] == []
    with pytest.raises(FileExistsError, match='new file only'): report.save(fn)
    with pytest.raises(ValueError, match='inside the folder being verified'): report.save(root/'verify.json')

def test_verified_items_as_get_items(folder, tmp_path):
    gen = make_pets(tmp_path/'gen', n_per_breed=2, max_side=160)
    files = {f.name: f.read_bytes() for f in (gen/'images').iterdir()}
    root = folder({**files, 'beagle_9.jpg': GOOD[:300], 'pug_9.jpg': b'<html></html>', 'pug 9.jpg': GOOD})
    with pytest.warns(UserWarning, match=r'Skipped 3 of 77 image files .* for example: beagle_9.jpg is a JPEG but damaged'):
        items = verified_items(root)
    assert len(items) == 74 and root/'beagle_9.jpg' not in items
    block = pets_block(get_profile('smoke', bs=8, item_sz=32, sz=32))
    block.get_items = verified_items
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        dls = block.dataloaders(root, bs=8, num_workers=0)
    assert len(dls.train_ds) + len(dls.valid_ds) == 74
    assert dls.one_batch()[0].shape == (8, 3, 32, 32)

# ---------------------------------------------------------------- environment

def test_offline_download(tmp_path, monkeypatch):
    monkeypatch.setenv('FASTAI_HOME', str(tmp_path/'fastai'))
    with pytest.raises(PetsDownloadError, match='set PETS_PATH'): untar_pets('http://127.0.0.1:9/oxford-iiit-pet.tgz')
    def offline(*args, **kwargs): raise urllib.error.URLError('[Errno -3] Temporary failure in name resolution')
    monkeypatch.setattr('pets_fastai.data.untar_data', offline)
    with pytest.raises(PetsDownloadError, match='(?s)Temporary failure in name resolution.*set PETS_PATH'): untar_pets()

@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    "DataLoaders of 4 generated breeds at 32 px: an epoch takes well under a second"
    gen = make_pets(tmp_path_factory.mktemp('gen')/'pets', n_per_breed=6, max_side=160)
    few = tmp_path_factory.mktemp('few')
    for f in sorted((gen/'images').iterdir()):
        if f.name.rsplit('_', 1)[0] in ('Bengal', 'Birman', 'beagle', 'pug'): shutil.copy(f, few)
    prof = get_profile('smoke', bs=8, item_sz=48, sz=32)
    return prof, pets_dls(prof, few), few

def test_missing_pretrained_weights(tiny, tmp_path, monkeypatch):
    prof, dls, _ = tiny
    monkeypatch.setenv('TORCH_HOME', str(tmp_path/'torch'))
    def offline(url, dst, *args, **kwargs): raise urllib.error.URLError(f'offline: {url}')
    monkeypatch.setattr(torch.hub, 'download_url_to_file', offline)
    with pytest.raises(WeightsUnavailableError, match='resnet18-') as e:
        pets_learner(dls, get_profile('full', arch='resnet18', pretrained=True))
    assert str(tmp_path/'torch'/'hub'/'checkpoints') in str(e.value)
    assert isinstance(e.value.__cause__, urllib.error.URLError)

def test_gpu_asked_for_but_absent(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    with pytest.raises(DeviceUnavailableError, match=r"device='cuda' asks for a GPU, but this PyTorch .* Use device='cpu'"):
        check_device('cuda')
    assert check_device('cpu') == torch.device('cpu') and check_device() == torch.device('cpu')
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 1)
    assert check_device('cuda:0') == torch.device('cuda:0')
    with pytest.raises(DeviceUnavailableError, match='asks for GPU 1, but this machine has 1 .* use one of those'):
        check_device('cuda:1')
    monkeypatch.setattr(torch.backends.mps, 'is_available', lambda: False)
    with pytest.raises(DeviceUnavailableError, match='MPS'): check_device('mps')

@pytest.mark.parametrize('err', [torch.OutOfMemoryError('CUDA out of memory. Tried to allocate 2.00 GiB'),
                                 RuntimeError('[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: not enough memory: you tried to allocate 1073741824 bytes.')],
                         ids=['cuda', 'cpu'])
def test_too_little_memory_for_the_batch(tiny, err):
    prof, dls, _ = tiny
    learn = pets_learner(dls, prof)
    def no_room(*args): raise err
    learn.model.forward = no_room
    with pytest.raises(BatchTooLargeError, match=r'Ran out of memory at batch size bs=8 .*: try bs=4') as e:
        with oom_advice(dls.bs): learn.fit(1, prof.lr)
    assert e.value.__cause__ is err

def test_oom_advice_passes_other_errors_and_bs_1():
    with pytest.raises(RuntimeError, match='shapes cannot be multiplied') as e:
        with oom_advice(8): raise RuntimeError('mat1 and mat2 shapes cannot be multiplied')
    assert type(e.value) is RuntimeError
    with pytest.raises(BatchTooLargeError, match='even one image does not fit'):
        with oom_advice(1): raise torch.OutOfMemoryError('out of memory')
    with pytest.raises(BatchTooLargeError, match=r'bs=64 \(MemoryError\): try bs=32'):
        with oom_advice(64): raise MemoryError()

# ---------------------------------------------------------------- interrupted training

class RaiseAt(Callback):
    "Raise `err` (or send SIGINT `sigint` times) at batch `batch` of epoch `epoch`"
    order = 0
    def __init__(self, epoch, batch, err=None, sigint=0): self.at, self.err, self.sigint = (epoch, batch), err, sigint
    def after_batch(self):
        if self.training and (self.epoch, self.iter) == self.at:
            for _ in range(self.sigint): os.kill(os.getpid(), signal.SIGINT)
            if self.err is not None: raise self.err

def no_temp_files(dest): return [p.name for p in Path(dest).iterdir() if p.name.endswith('.tmp')] == []

def saved_model(fn): return torch.load(fn, map_location='cpu', weights_only=False)  # our own checkpoints

def same_weights(model, state): return all(torch.equal(v.cpu(), state[k]) for k, v in model.state_dict().items())

def test_keyboard_interrupt_mid_epoch_keeps_best_and_records_it(tiny, tmp_path):
    prof, dls, data = tiny
    before = hashes(data)
    dest = tmp_path/'run'
    learn = pets_learner(dls, prof)
    handler = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        with SafeTraining(dest) as safe: learn.fit_one_cycle(3, prof.lr, cbs=[safe, RaiseAt(1, 1, KeyboardInterrupt())])
    status = training_status(dest)
    assert (status['state'], status['reason'], status['epoch'], status['n_epoch']) == ('interrupted', 'KeyboardInterrupt', 1, 3)
    assert status['best_at'] == dict(fit=1, epoch=0) and [h['epoch'] for h in status['history']] == [0]
    assert sorted(p.name for p in dest.iterdir()) == ['best.pth', 'last.pth', 'status.json']
    assert set(saved_model(dest/'last.pth')) == {'model', 'opt'}
    assert saved_model(dest/'best.pth').keys() == learn.model.state_dict().keys()
    assert signal.getsignal(signal.SIGINT) is handler
    assert hashes(data) == before

def test_crash_mid_epoch_is_recorded(tiny, tmp_path):
    prof, dls, _ = tiny
    dest = tmp_path/'run'
    learn = pets_learner(dls, prof)
    with pytest.raises(RuntimeError, match='disk on fire'):
        with SafeTraining(dest) as safe: learn.fit_one_cycle(2, prof.lr, cbs=[safe, RaiseAt(1, 0, RuntimeError('disk on fire'))])
    status = training_status(dest)
    assert status['state'] == 'interrupted' and status['reason'].startswith('RuntimeError') and 'disk on fire' in status['reason']
    assert status['epoch'] == 1 and status['last_file'] == str(dest/'last.pth')

def test_ctrl_c_stops_cleanly_and_handler_is_restored(tiny, tmp_path):
    prof, dls, _ = tiny
    dest = tmp_path/'run'
    learn = pets_learner(dls, prof)
    handler = signal.getsignal(signal.SIGINT)
    learn.fit_one_cycle(3, prof.lr, cbs=[SafeTraining(dest), RaiseAt(1, 0, sigint=1)])  # no exception: a clean stop
    status = training_status(dest)
    assert (status['state'], status['epoch']) == ('interrupted', 1) and 'Ctrl-C' in status['reason']
    assert (dest/'best.pth').exists() and no_temp_files(dest)
    assert signal.getsignal(signal.SIGINT) is handler

def test_second_ctrl_c_stops_at_once(tiny, tmp_path):
    prof, dls, _ = tiny
    learn = pets_learner(dls, prof)
    with pytest.raises(KeyboardInterrupt):
        with SafeTraining(tmp_path/'run') as safe: learn.fit_one_cycle(2, prof.lr, cbs=[safe, RaiseAt(0, 1, sigint=2)])
    assert training_status(tmp_path/'run')['state'] == 'interrupted'

def test_stale_handler_after_a_crash_hands_ctrl_c_back(tiny, tmp_path):
    "Without the `with` block a crash leaves our handler installed; outside a fit, Ctrl-C must still interrupt"
    prof, dls, _ = tiny
    learn = pets_learner(dls, prof)
    handler = signal.getsignal(signal.SIGINT)
    with pytest.raises(RuntimeError, match='boom'):
        learn.fit_one_cycle(2, prof.lr, cbs=[SafeTraining(tmp_path/'run'), RaiseAt(0, 0, RuntimeError('boom'))])
    assert training_status(tmp_path/'run')['state'] == 'running'  # a crash skips fastai's callbacks
    with pytest.raises(KeyboardInterrupt): os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is handler

def test_resume_after_interruption(tiny, tmp_path):
    prof, dls, _ = tiny
    dest = tmp_path/'run'
    learn = pets_learner(dls, prof)
    with pytest.raises(KeyboardInterrupt):
        with SafeTraining(dest) as safe: learn.fit_one_cycle(3, prof.lr, cbs=[safe, RaiseAt(2, 0, KeyboardInterrupt())])
    last = saved_model(dest/'last.pth')
    learn = pets_learner(dls, prof)
    assert not same_weights(learn.model, last['model'])
    status = resume_training(learn, dest)
    assert same_weights(learn.model, last['model'])
    assert (status['epoch'], status['n_epoch']) == (2, 3)
    learn.fit_one_cycle(status['n_epoch'], prof.lr, start_epoch=status['epoch'], cbs=SafeTraining(dest))
    status = training_status(dest)
    assert (status['state'], status['epoch'], [h['epoch'] for h in status['history']]) == ('finished', 3, [0, 1, 2])
    best = min(status['history'], key=lambda h: h['valid_loss'])
    assert status['best_at']['epoch'] == best['epoch'] and status['best'] == pytest.approx(best['valid_loss'])

def test_resume_needs_a_finished_epoch(tiny, tmp_path):
    prof, dls, _ = tiny
    learn = pets_learner(dls, prof)
    with pytest.raises(FileNotFoundError, match='is not a folder SafeTraining wrote to'): resume_training(learn, tmp_path)
    with pytest.raises(KeyboardInterrupt):
        with SafeTraining(tmp_path/'run') as safe: learn.fit(1, prof.lr, cbs=[safe, RaiseAt(0, 0, KeyboardInterrupt())])
    with pytest.raises(FileNotFoundError, match='stopped before its first epoch ended'): resume_training(learn, tmp_path/'run')

def test_failed_save_keeps_the_previous_checkpoint(tiny, tmp_path, monkeypatch):
    "A write that fails half-way (a full disk) leaves the last good checkpoint whole and no temporary file"
    prof, dls, _ = tiny
    dest = tmp_path/'run'
    learn = pets_learner(dls, prof)
    learn.fit(1, prof.lr, cbs=SafeTraining(dest))
    good = {n: (dest/n).read_bytes() for n in ('best.pth', 'last.pth')}
    import pets_fastai.verify as verify
    def disk_full(f, *args, **kwargs):
        f.write(b'half a checkpoint')
        raise OSError(28, 'No space left on device')
    monkeypatch.setattr(verify, 'save_model', disk_full)
    with pytest.raises(OSError):
        with SafeTraining(dest) as safe: learn.fit(1, prof.lr, cbs=safe)
    assert {n: (dest/n).read_bytes() for n in good} == good and no_temp_files(dest)
    assert training_status(dest)['state'] == 'interrupted'

def test_lr_find_leaves_the_data_folder_alone(tiny):
    "lr_find saves a temporary model under learn.path/models: that must not be the user's photo folder"
    prof, dls, data = tiny
    before = hashes(data)
    pets_learner(dls, prof).lr_find(num_it=5, show_plot=False)
    assert hashes(data) == before

def test_fine_tune_records_both_fits(tiny, tmp_path):
    "fine_tune runs two fits (frozen, then unfrozen) with the same callbacks: one record, best over both"
    prof, dls, _ = tiny
    learn = pets_learner(dls, prof)
    learn.fine_tune(1, prof.lr, freeze_epochs=1, cbs=SafeTraining(tmp_path/'run'))
    status = training_status(tmp_path/'run')
    assert (status['state'], status['fit']) == ('finished', 2)
    assert [(h['fit'], h['epoch']) for h in status['history']] == [(1, 0), (2, 0)]
    assert status['best'] == pytest.approx(min(h['valid_loss'] for h in status['history']))
