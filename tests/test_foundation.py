"The foundation's promises: labels, generated data, clear errors offline, and offline ImageNet weights."
import hashlib, os, re, warnings
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest
import torch
from PIL import Image

from pets_fastai.profiles import get_profile, short_path
from pets_fastai.photos import BREEDS, species, make_pets, untar_pets, PetsDownloadError
from pets_fastai.data import breed_labeller, get_pet_images, pets_dls
from pets_fastai.learner import pets_learner
from pets_fastai.backbones import efficientnet_lite, WeightsUnavailableError

SAMPLE = Path(os.environ.get('PETS_PATH') or Path(__file__).parents[2]/'shared/data/oxford-iiit-pet-sample')

def digest(folder:Path)->dict: return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob('*')) if p.is_file()}

def test_labeller_all_breeds():
    lbl = breed_labeller()
    for b in BREEDS:
        for n in (1, 23, 200): assert lbl(Path(f'/x/images/{b}_{n}.jpg')) == b

@pytest.mark.parametrize('name', ['beagle.jpg', 'beagle_1.jpeg', 'beagle_1.JPG', 'beagle_x.jpg', 'beagle_1xjpg', '_1.jpg'])
def test_labeller_rejects_bad_names(name):
    with pytest.raises(AssertionError, match=name.replace('.', r'\.')): breed_labeller()(Path(name))  # fastai's RegexLabeller asserts

def test_species_convention():
    assert [b for b in BREEDS if species(b) == 'cat'] == [b for b in BREEDS if b[0].isupper()]
    assert 'german_shorthaired' in BREEDS and len(BREEDS) == 37

def test_generator_is_deterministic_and_photo_like(tmp_path):
    a, b = make_pets(tmp_path/'a', n_per_breed=1, seed=1), make_pets(tmp_path/'b', n_per_breed=1, seed=1)
    c = make_pets(tmp_path/'c', n_per_breed=1, seed=2)
    assert digest(a/'images') == digest(b/'images') != digest(c/'images')
    sizes = [Image.open(f).size for f in (a/'images').iterdir()]
    assert len(sizes) == 37 and min(map(min, sizes)) >= 150 and max(map(max, sizes)) <= 1700
    assert any(w > h for w, h in sizes) and any(h > w for w, h in sizes)
    assert {f.name.rsplit('_', 1)[0] for f in (a/'images').iterdir()} == set(BREEDS)

def test_generator_never_overwrites(tmp_path):
    mine = tmp_path/'mine'; mine.mkdir(); (mine/'notes.txt').write_text('keep me')
    with pytest.raises(FileExistsError, match='never overwrites'): make_pets(mine, n_per_breed=1)
    assert (mine/'notes.txt').read_text() == 'keep me' and len(list(mine.iterdir())) == 1

def test_unmatched_names_are_reported_not_labelled(tmp_path, capsys):
    make_pets(tmp_path/'p', n_per_breed=1, max_side=300)
    img = tmp_path/'p'/'images'
    (img/'beagle_1.jpg').rename(img/'my beagle.jpg')
    fns = get_pet_images(tmp_path/'p')
    assert len(fns) == 36 and all(f.name != 'my beagle.jpg' for f in fns)
    assert re.search(r"^Skipped 1 of 37 image files in .*full list: ", capsys.readouterr().out, re.M)

def test_empty_or_unmatched_folders_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='No images'): get_pet_images(tmp_path)
    Image.new('RGB', (8, 8)).save(tmp_path/'cat.png')
    with pytest.raises(ValueError, match="rename them as <breed>_<number>.jpg"): get_pet_images(tmp_path)
    with pytest.raises(FileNotFoundError, match='is not a folder'): get_pet_images(tmp_path/'cat.png')

def test_offline_download_message():
    with pytest.raises(PetsDownloadError, match='set PETS_PATH') as e: untar_pets('http://127.0.0.1:9/oxford-iiit-pet.tgz')
    assert 'FASTAI_HOME' in str(e.value) and isinstance(e.value.__cause__, OSError)

def test_missing_weights_message(tmp_path, monkeypatch):
    "Offline, torchvision's download raises URLError; the learner says which file to put where"
    monkeypatch.setenv('TORCH_HOME', str(tmp_path/'torch'))
    def offline(*args, **kwargs): raise URLError('no network')
    monkeypatch.setattr(torch.hub, 'download_url_to_file', offline)
    prof = get_profile('smoke', n_per_breed=2, max_side=300)
    dls = pets_dls(prof, make_pets(tmp_path/'pets', n_per_breed=2, max_side=300))
    with pytest.raises(WeightsUnavailableError, match=r'resnet34-.*\.pth') as e:
        pets_learner(dls, get_profile('full'))
    assert short_path(tmp_path/'torch'/'hub'/'checkpoints') in str(e.value)
    with pytest.raises(WeightsUnavailableError, match=r'IMAGENET1K_V1.*resnet18-f37072fd\.pth'):
        pets_learner(dls, prof, arch='resnet18', pretrained=True, weights='IMAGENET1K_V1')

def test_learner_options_and_speed_defaults(tmp_path):
    "One builder: the profile's defaults, or arch/pretrained/seed given; channels-last on the CPU, fp16 on CUDA"
    prof = get_profile('smoke', n_per_breed=2, max_side=300)
    dls = pets_dls(prof, make_pets(tmp_path/'pets', n_per_breed=2, max_side=300))
    head = lambda l: torch.cat([p.detach().flatten() for p in l.model[1].parameters()])
    a, b, c = pets_learner(dls, prof), pets_learner(dls, prof), pets_learner(dls, prof, seed=prof.seed + 1)
    assert torch.equal(head(a), head(b)) and not torch.equal(head(a), head(c))
    names = [type(cb).__name__ for cb in a.cbs]
    assert ('ChannelsLast' in names, 'MixedPrecision' in names) == (dls.device.type == 'cpu', dls.device.type == 'cuda')
    assert a.metrics[0].name == 'error_rate' and not a.pretrained
    with pytest.raises(ValueError, match='use one of resnet18'): pets_learner(dls, prof, arch='resnet9')
    with pytest.raises(ValueError, match="no ImageNet weights 'IMAGENET1K_V3'"):
        pets_learner(dls, prof, arch='resnet18', pretrained=True, weights='IMAGENET1K_V3')

@pytest.mark.skipif(not (SAMPLE/'images').is_dir(), reason='needs the real Oxford-IIIT Pet sample (PETS_PATH)')
@pytest.mark.parametrize('n', [0, 1, 2])
def test_packaged_weights_recognise_real_pets(n):
    "The offline EfficientNet-Lite weights put real cat photos in ImageNet's cat classes and dogs in its dog classes"
    model = efficientnet_lite(n).eval()
    fns = sorted((SAMPLE/'images').glob('Bengal_*.jpg'))[:8] + sorted((SAMPLE/'images').glob('beagle_*.jpg'))[:8]
    x = torch.stack([torch.from_numpy(np.asarray(Image.open(f).convert('RGB').resize((224, 224)), dtype=np.float32))
                     .permute(2, 0, 1) / 255 for f in fns])
    with torch.no_grad(): top = model((x - 0.5) / 0.5).argmax(1)
    cats, dogs = top[:8], top[8:]
    assert ((cats >= 281) & (cats <= 285)).sum() >= 6, cats   # ImageNet 281-285: domestic cats
    assert ((dogs >= 151) & (dogs <= 268)).sum() >= 6, dogs   # ImageNet 151-268: dogs
