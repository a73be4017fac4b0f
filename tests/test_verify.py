"Bad photos, folders and machines: every case builds its own bad input, checks the message or the report, and that the user's files are unchanged."
import io, json, os, shutil, unicodedata, urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import shown
from pets_fastai.photos import BREEDS, PetsDownloadError, make_pets, untar_pets
from pets_fastai.data import get_pet_images, pets_block, pets_dls
from pets_fastai.images import huge_jpeg, sniff_format
from pets_fastai.learner import pets_learner
from pets_fastai.backbones import WeightsUnavailableError
from pets_fastai.devices import BatchTooLargeError, DeviceUnavailableError, check_device, oom_advice
from pets_fastai.profiles import get_profile
from pets_fastai.records import write_json
from pets_fastai.verify import blank_png, folder_hashes, img_bytes, name_problems, scan_photos


# ---------------------------------------------------------------- building bad input

PHOTO = Image.fromarray(np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8))
GOOD = img_bytes(PHOTO)

def hashes(root):
    "Every file's SHA-256 and every path, folders included"
    return folder_hashes(root), sorted(str(p.relative_to(root)) for p in Path(root).rglob('*'))

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
    report = scan_photos(root, **kwargs)
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
    (huge_jpeg(), 'refuses to open it as a possible decompression bomb'),
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
    monkeypatch.setattr('pets_fastai.images.open', deny, raising=False)
    report = scan_photos(root)
    assert_skipped(report, root/'pug_1.jpg')
    assert 'cannot be read (Permission denied): fix its permissions, e.g. chmod u+r' in report.problems[0].reason

@pytest.mark.skipif(os.geteuid() == 0, reason='root reads files whatever their permissions')
def test_unreadable_file_chmod(folder):
    root = folder({'beagle_1.jpg': GOOD, 'pug_1.jpg': GOOD})
    (root/'pug_1.jpg').chmod(0)
    try: report = scan_photos(root)
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
    (blank_png(10_000, 10_000), "10000×10000 (100 megapixels), over PIL's decompression-bomb limit"),
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
    report = scan_photos(root)
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
        scan_photos(tmp_path/'nowhere')

def test_file_instead_of_folder(folder, tmp_path):
    root = folder({'beagle_1.jpg': GOOD, 'oxford-iiit-pet.tgz': b'\x1f\x8b\x08\x00'})
    with pytest.raises(NotADirectoryError, match=r'is a file, not a folder: pass the folder .* such as'):
        scan_photos(root/'beagle_1.jpg')
    with pytest.raises(NotADirectoryError, match='extract it first'): scan_photos(root/'oxford-iiit-pet.tgz')

def test_empty_folder(tmp_path):
    report = scan_photos(tmp_path)
    assert report.counts == dict(files=0, items=0, skipped=0, folder_problems=0, notes=0, ignored=0)
    assert 'is this the right folder?' in report._repr_markdown_()
    with pytest.raises(FileNotFoundError, match='No images'): get_pet_images(tmp_path)

def test_unreadable_folder(folder, monkeypatch):
    root = folder({'beagle_1.jpg': GOOD, 'locked/beagle_2.jpg': GOOD})
    real_scandir = os.scandir
    def deny(p='.'):
        if Path(p).name in ('photos', 'locked') and deny.target == Path(p).name: raise PermissionError(13, 'Permission denied', str(p))
        return real_scandir(p)
    monkeypatch.setattr(os, 'scandir', deny)
    deny.target = 'locked'
    report = scan_photos(root)
    assert report.items == [root/'beagle_1.jpg']
    assert report.problems[0].kind == 'folder' and report.problems[0].fn == root/'locked'
    assert "cannot be read (Permission denied), so its images are left out: give yourself read access" in report.problems[0].reason
    deny.target = 'photos'
    with pytest.raises(PermissionError, match=r"Cannot read the folder .*photos \(Permission denied\): give yourself read access"):
        scan_photos(root)

def test_broken_link_is_skipped(folder):
    root = folder({'beagle_1.jpg': GOOD}, links={'pug_1.jpg': 'gone.jpg'})
    report = scan_photos(root)
    assert_skipped(report, root/'pug_1.jpg')
    assert report.problems[0].reason == f"is a link to {root/'gone.jpg'}, which does not exist: fix or remove the link"

def test_folder_link_loop_is_reported_once(folder):
    "get_image_files follows a link back to a parent round and round, taking every photo again each time"
    from fastai.data.all import get_image_files
    root = folder({'beagle_1.jpg': GOOD, 'sub/pug_1.jpg': GOOD}, links={'sub/loop': '.'})
    assert len(get_image_files(root)) > 10
    report = scan_photos(root)
    assert report.items == [root/'beagle_1.jpg', root/'sub/pug_1.jpg']
    assert [(x.fn, x.kind) for x in report.problems] == [(root/'sub'/'loop', 'folder')]
    assert 'which is scanned already' in report.problems[0].reason and report.counts['folder_problems'] == 1

def test_oxford_layout_reads_images_folder(folder):
    root = folder({'images/beagle_1.jpg': GOOD, 'annotations/list.txt': b'x'})
    assert scan_photos(root).items == [root/'images/beagle_1.jpg']

# ---------------------------------------------------------------- the report and the data path

def test_report_to_dict_written_with_write_json(folder, tmp_path):
    root = folder({'beagle_1.jpg': GOOD, 'beagle_2.jpg': b''})
    report = scan_photos(root)
    data = json.loads(write_json(report.to_dict(), tmp_path/'verify.json').read_text())
    assert data['counts'] == report.counts and data['items'] == ['beagle_1.jpg']
    assert data['problems'] == [dict(file='beagle_2.jpg', kind='image', reason='is empty (0 bytes), often a failed download: replace it')]

def test_get_pet_images_skips_unreadable_with_one_line(folder, tmp_path, capsys):
    gen = make_pets(tmp_path/'gen', n_per_breed=2, max_side=160)
    files = {f.name: f.read_bytes() for f in (gen/'images').iterdir()}
    root = folder({**files, 'beagle_9.jpg': GOOD[:300], 'pug_9.jpg': b'<html></html>', 'pug 9.jpg': GOOD})
    items = get_pet_images(root)
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith('Skipped 3 of 77 image files') and 'full list: ' in out[0], out
    assert '1 not matching the pattern' in out[0] and '1 damaged or truncated' in out[0] and '1 not an image' in out[0]
    listed = Path(out[0].split('full list: ')[1].replace('~', str(Path.home()), 1)).read_text()
    assert 'beagle_9.jpg' in listed and 'pug 9.jpg' in listed
    assert len(items) == 74 and root/'beagle_9.jpg' not in items
    dls = pets_block(get_profile('smoke', bs=8, item_sz=32, sz=32)).dataloaders(root, bs=8, num_workers=0)
    assert len(dls.train_ds) + len(dls.valid_ds) == 74
    assert dls.one_batch()[0].shape == (8, 3, 32, 32)

# ---------------------------------------------------------------- environment

def test_offline_download(tmp_path, monkeypatch):
    monkeypatch.setenv('FASTAI_HOME', str(tmp_path/'fastai'))
    with pytest.raises(PetsDownloadError, match='set PETS_PATH'): untar_pets('http://127.0.0.1:9/oxford-iiit-pet.tgz')
    def offline(*args, **kwargs): raise urllib.error.URLError('[Errno -3] Temporary failure in name resolution')
    monkeypatch.setattr('pets_fastai.photos.untar_data', offline)
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
    assert shown(tmp_path/'torch'/'hub'/'checkpoints', Path.cwd()) in str(e.value)
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

# ---------------------------------------------------------------- training leaves the photos alone

def test_lr_find_leaves_the_data_folder_alone(tiny):
    "lr_find saves a temporary model under learn.path/models: that must not be the user's photo folder"
    prof, dls, data = tiny
    before = hashes(data)
    pets_learner(dls, prof).lr_find(num_it=5, show_plot=False)
    assert hashes(data) == before
