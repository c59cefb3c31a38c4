"""The paper's backbones, their local-weights loading and the VGGish front end.

Weight files are synthetic: the key names and shapes of the public ports, written
out here, filled with known values. Nothing is downloaded.
"""
from __future__ import annotations

import hashlib
import math

import numpy as np

import pytest
import torch

from methods.common.audio_frontends import (
    VGGISH_SAMPLE_RATE,
    hertz_to_mel,
    vggish_logmel,
)
from methods.common.backbones import AUDIO_BACKBONES, VISUAL_BACKBONES, build_backbone
from methods.common.localizer import LocalizationModel
from methods.common.paper_backbones import ResNet18Visual, SoundNet8, VGGish
from methods.common.weights import WeightsError, load_pretrained, pretrained_records

# harritaylor/torchvggish, vggish-10086976.pth (+ pproc PCA params, which we ignore)
VGGISH_PORT = {
    "features.0.weight": (64, 1, 3, 3), "features.0.bias": (64,),
    "features.3.weight": (128, 64, 3, 3), "features.3.bias": (128,),
    "features.6.weight": (256, 128, 3, 3), "features.6.bias": (256,),
    "features.8.weight": (256, 256, 3, 3), "features.8.bias": (256,),
    "features.11.weight": (512, 256, 3, 3), "features.11.bias": (512,),
    "features.13.weight": (512, 512, 3, 3), "features.13.bias": (512,),
    "embeddings.0.weight": (4096, 12288), "embeddings.0.bias": (4096,),
    "embeddings.2.weight": (4096, 4096), "embeddings.2.bias": (4096,),
    "embeddings.4.weight": (128, 4096), "embeddings.4.bias": (128,),
    "pproc.pca_matrix": (128, 128), "pproc.pca_means": (128, 1),
}


def soundnet_port() -> dict[str, torch.Tensor]:
    """smallflyingpig/SoundNet_Pytorch sound8.pth: Conv2d (k,1) kernels, BN counter stored as float 100."""
    sd, cin = {}, 1
    for i, (cout, k) in enumerate(((16, 64), (32, 32), (64, 16), (128, 8), (256, 4), (512, 4), (1024, 4)), start=1):
        sd[f"conv{i}.0.weight"] = torch.full((cout, cin, k, 1), 0.01 * i)
        sd[f"conv{i}.0.bias"] = torch.full((cout,), 0.1 * i)
        for name, v in (("weight", 1.5), ("bias", 0.2), ("running_mean", 0.3), ("running_var", 2.0)):
            sd[f"conv{i}.1.{name}"] = torch.full((cout,), v + i)
        sd[f"conv{i}.1.num_batches_tracked"] = torch.tensor(100.0)
        cin = cout
    for name, n in (("conv8", 1000), ("conv8_2", 401)):
        sd[f"{name}.0.weight"] = torch.zeros(n, 1024, 8, 1)
        sd[f"{name}.0.bias"] = torch.zeros(n)
    return sd


def resnet_port() -> dict[str, torch.Tensor]:
    """torchvision's resnet18 state dict (the ImageNet file's layout), fc included, BN counters dropped."""
    from torchvision.models import resnet18

    sd = resnet18(weights=None).state_dict()
    return {k: torch.full_like(v, 0.5) for k, v in sd.items() if not k.endswith("num_batches_tracked")}


@pytest.fixture(scope="module")
def vggish():
    torch.manual_seed(0)
    return VGGish()


# ---------------------------------------------------------------- shapes and registration


def test_shapes_and_tables(vggish):
    r = ResNet18Visual()
    assert r.out_channels == 512 and r.pretrained is None
    with torch.no_grad():
        assert r.eval()(torch.randn(1, 3, 224, 224)).shape == (1, 512, 7, 7)
        assert vggish(torch.randn(2, 1, 64, 288)).shape == (2, vggish.out_channels) == (2, 128)
        s = SoundNet8().eval()
        assert s(torch.randn(2, 1, 3 * 22050) * 0.1).shape == (2, s.out_channels) == (2, 1024)
    assert VISUAL_BACKBONES["resnet18"] is ResNet18Visual
    assert AUDIO_BACKBONES["vggish"] is VGGish and AUDIO_BACKBONES["soundnet8"] is SoundNet8
    assert {k: c.input_key for k, c in AUDIO_BACKBONES.items()} == {
        "mel_cnn2d": "audio", "mel_cnn1d": "audio", "vggish": "audio", "soundnet8": "waveform",
        "wave_cnn1d": "waveform", "resnet18_audio": "waveform"}


def test_vggish_averages_its_examples_in_the_ports_layout(vggish):
    x = torch.randn(2, 1, 64, 3 * 96 + 10)  # a partial tail example is dropped
    with torch.no_grad():
        got = vggish(x)
        per_example = []
        for i in range(3):
            ex = x[..., i * 96:(i + 1) * 96].transpose(2, 3)  # (B,1,96 frames,64 bands) as the port takes
            h = vggish.features(ex).transpose(1, 3).transpose(1, 2).flatten(1)  # the port's channels-last flatten
            per_example.append(vggish.embeddings(h))
        torch.testing.assert_close(got, torch.stack(per_example).mean(0), rtol=1e-4, atol=1e-5)
        vggish.examples = "center"
        try:
            torch.testing.assert_close(vggish(x), per_example[1], rtol=1e-4, atol=1e-5)
        finally:
            vggish.examples = "mean"
    with pytest.raises(ValueError, match="64"):
        vggish(torch.randn(1, 1, 64, 95))


# ---------------------------------------------------------------- loading the ports' files


def test_vggish_port_safetensors_loads(vggish, tmp_path):
    from safetensors.torch import save_file

    sd = {k: torch.full(shape, 0.001 * i) for i, (k, shape) in enumerate(VGGISH_PORT.items())}
    path = tmp_path / "vggish-port.safetensors"
    save_file(sd, str(path))
    model = VGGish()
    rec = load_pretrained(model, path, ignore=("pproc.",), what="VGGish")  # what VGGish(weights=path) does
    assert rec["n_tensors"] == len(VGGISH_PORT) - 2 and model.pretrained == rec
    assert rec["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    own = model.state_dict()
    for k in VGGISH_PORT:
        if not k.startswith("pproc."):
            assert torch.equal(own[k], sd[k]), k


def test_soundnet_and_resnet_ports_load(tmp_path):
    sn_path, rn_path = tmp_path / "sound8.pth", tmp_path / "resnet18-f37072fd.pth"
    sn, rn = soundnet_port(), resnet_port()
    torch.save(sn, sn_path)
    torch.save(rn, rn_path)

    s = SoundNet8(weights=str(sn_path))
    assert s.pretrained["n_tensors"] == 7 * 7 and s.pretrained["path"] == str(sn_path.resolve())
    assert torch.equal(s.conv3[0].weight, sn["conv3.0.weight"].squeeze(-1))
    assert torch.equal(s.conv7[1].running_var, sn["conv7.1.running_var"])
    assert int(s.conv1[1].num_batches_tracked) == 100

    r = ResNet18Visual(weights=str(rn_path))
    assert r.pretrained["n_tensors"] == len(rn) - 2  # all but fc.weight / fc.bias
    assert all(torch.equal(v, rn[k]) for k, v in r.state_dict().items() if k in rn)

    # through the config path the methods use, and visible to run.json
    m = LocalizationModel(visual={"type": "light_cnn"}, audio={"type": "soundnet8", "weights": str(sn_path)})
    assert pretrained_records(m) == {"audio": s.pretrained}
    assert build_backbone(VISUAL_BACKBONES, {"type": "resnet18"}, "visual").pretrained is None


@pytest.mark.parametrize(
    "cls, key, good, bad",
    [
        (VGGish, "embeddings.4.weight", (128, 4096), (127, 4096)),
        (SoundNet8, "conv2.0.weight", (32, 16, 32), (32, 16, 31, 1)),
        (ResNet18Visual, "layer1.0.conv1.weight", (64, 64, 3, 3), (64, 64, 1, 1)),
    ],
)
def test_wrong_shape_is_refused(cls, key, good, bad, tmp_path):
    path = tmp_path / "bad.pth"
    torch.save({key: torch.zeros(bad)}, path)
    with pytest.raises(WeightsError) as err:
        cls(weights=str(path))
    msg = str(err.value)
    assert str(path) in msg and key in msg and str(good) in msg and str(bad) in msg, msg
    assert "missing keys" in msg  # the rest of the net is absent from this file


def test_missing_and_unexpected_keys_are_refused_and_leave_the_model_untouched(tmp_path):
    path = tmp_path / "sound8.pth"
    sd = soundnet_port()
    del sd["conv5.1.running_mean"]
    torch.save(sd, path)
    with pytest.raises(WeightsError, match=r"missing keys \[conv5\.1\.running_mean\]"):
        SoundNet8(weights=str(path))

    sd = soundnet_port()
    sd["conv9.0.weight"] = torch.zeros(3)
    torch.save(sd, path)
    model = SoundNet8()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(WeightsError, match=r"unexpected keys \[conv9\.0\.weight\]"):
        load_pretrained(model, path, ignore=("conv8.", "conv8_2."), what="SoundNet-8")
    assert model.pretrained is None
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_missing_unreadable_and_pickled_files_are_refused(tmp_path):
    with pytest.raises(WeightsError, match="not found: .*nowhere.pth"):
        SoundNet8(weights=str(tmp_path / "nowhere.pth"))
    for name in ("corrupt.pth", "corrupt.safetensors"):
        (tmp_path / name).write_bytes(b"this is not a checkpoint")
        with pytest.raises(WeightsError, match=f"cannot read SoundNet-8 weights file .*{name}"):
            SoundNet8(weights=str(tmp_path / name))
    torch.save(torch.nn.Linear(2, 2), tmp_path / "module.pth")  # a whole pickled module: weights_only refuses it
    with pytest.raises(WeightsError, match="module.pth"):
        SoundNet8(weights=str(tmp_path / "module.pth"))


# ---------------------------------------------------------------- VGGish front end


def test_vggish_logmel_frames():
    sr = VGGISH_SAMPLE_RATE
    assert vggish_logmel(torch.zeros(2, 3 * sr)).shape == (2, 1, 64, 288)  # 298 frames -> 3 full examples
    for k in (1, 2):
        # one example needs 400 + 95*160 samples: k*0.96 s plus 15 ms gives exactly 96k frames
        assert vggish_logmel(torch.zeros(1, k * 15360 + 240)).shape == (1, 1, 64, 96 * k)
    assert vggish_logmel(torch.zeros(1, 15360), full_examples=False).shape == (1, 1, 64, 94)
    with pytest.raises(ValueError, match="fewer than one VGGish example"):
        vggish_logmel(torch.zeros(1, 15360))


def test_vggish_logmel_matches_a_hand_computed_tone():
    silence = vggish_logmel(torch.zeros(1, 16000))
    torch.testing.assert_close(silence, torch.full_like(silence, math.log(0.01)))

    n = torch.arange(16000, dtype=torch.float64)
    tone = torch.sin(2 * math.pi * 1000.0 * n / VGGISH_SAMPLE_RATE)
    out = vggish_logmel(tone[None])[0, 0]  # (64, 96)

    # Hand reference: HTK-mel band edges, triangle weights in mel, and a direct DFT of frame 0.
    mel = lambda hz: 1127.0 * math.log(1.0 + hz / 700.0)  # noqa: E731
    edges = [mel(125) + i * (mel(7500) - mel(125)) / 65 for i in range(66)]
    centers = edges[1:-1]
    band = min(range(64), key=lambda i: abs(centers[i] - mel(1000.0)))
    assert band == 19 and abs(float(hertz_to_mel(1000.0)) - mel(1000.0)) < 1e-9
    assert (out.argmax(dim=0) == band).all()  # every frame peaks in that band

    def weight(k, i):
        m = mel(k * 8000.0 / 256)
        lo, c, up = edges[i:i + 3]
        return max(0.0, min((m - lo) / (c - lo), (up - m) / (up - c)))

    frame = [math.sin(2 * math.pi * 1000.0 * t / 16000) * (0.5 - 0.5 * math.cos(2 * math.pi * t / 400)) for t in range(400)]

    def magnitude(k):
        re = sum(v * math.cos(2 * math.pi * k * t / 512) for t, v in enumerate(frame))
        im = sum(v * math.sin(2 * math.pi * k * t / 512) for t, v in enumerate(frame))
        return math.hypot(re, im)

    for i in (band, band + 1):
        bins = [k for k in range(1, 257) if weight(k, i) > 0]
        expected = math.log(sum(weight(k, i) * magnitude(k) for k in bins) + 0.01)
        # float32 output near 4.8 (one ulp: 4.8e-7) against float64 by hand: 8e-8 off at torch 2.3 and 2.9;
        # 1e-4 leaves room for any FFT implementation's summation order
        assert abs(out[i, 0].item() - expected) < 1e-4, (i, out[i, 0].item(), expected)
    # bin 32 is exactly 1 kHz: 25 whole periods in the window, so |X| = sum(hann)/2 = 100
    assert abs(magnitude(32) - 100.0) < 1e-9


@pytest.mark.parametrize("rate, seconds", [(16000, 3.0), (22050, 3.0), (16000, 1.0)])
def test_ezvsl_spectrogram_equals_scipy(rate, seconds):
    """EZ-VSL's audio input is scipy.signal.spectrogram(nperseg=512, noverlap=274), log(x + 1e-7), / 12."""
    from scipy import signal

    from methods.common.audio_frontends import ezvsl_log_spectrogram

    audio = np.clip(np.random.default_rng(rate).normal(0, 0.3, int(rate * seconds)), -1, 1)
    _, _, spec = signal.spectrogram(audio, rate, nperseg=512, noverlap=274)
    ours = ezvsl_log_spectrogram(torch.from_numpy(audio)[None, None], rate)
    assert ours.shape == (1, 1, *spec.shape)
    # computed in float64, returned in float32: 6e-8 off scipy's float64 (half an ulp) at torch 2.3 and 2.9;
    # 1e-6 leaves room for another FFT implementation's rounding
    assert np.abs(ours[0, 0].double().numpy() - np.log(spec + 1e-7) / 12).max() < 1e-6


def test_ezvsl_faithful_audio_encoder():
    """EZ-VSL's own audio branch: ResNet-18 (1-channel conv1, global max pool) on the spectrogram, linear head."""
    from methods.common.localizer import build_localizer
    from methods.common.paper_backbones import ResNet18Audio

    enc = ResNet18Audio(sample_rate=16000)
    assert isinstance(enc.net.avgpool, torch.nn.AdaptiveMaxPool2d) and enc.net.conv1.in_channels == 1
    with torch.no_grad():
        assert enc.eval()(torch.randn(2, 1, 16000) * 0.1).shape == (2, 512)
    model = build_localizer({"visual": {"type": "light_cnn", "width": 8, "depth": 1}, "audio": {"type": "resnet18_audio"},
                             "dim": 32, "audio_head": "linear"})
    assert isinstance(model.audio_head, torch.nn.Linear) and model.audio_key == "waveform"
