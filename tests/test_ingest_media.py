"""Decoding and the streaming pieces: frames and audio on one clock, log-mel windows centred on steps."""

import av
import numpy as np
import pytest
import soundfile as sf
from media_files import burst, write_video, write_with_data_stream

from emo_env.data.ingest import IngestParams
from emo_env.data.media import AudioChunk, MediaError, VideoFrame, read_media
from emo_env.data.steps import num_steps, step_time


def _decode(*args, **kwargs):
    items = list(read_media(*args, **kwargs))
    frames = [item for item in items if isinstance(item, VideoFrame)]
    audio = np.concatenate([item.samples for item in items if isinstance(item, AudioChunk)])
    return frames, audio


def test_decodes_frames_and_resamples_stereo_audio_to_16k_mono(tmp_path):
    click = burst(1.0, at=0.55, sample_rate=44100)
    path = write_video(tmp_path / "a.mp4", seconds=1.0, audio=np.stack([click, click]), sample_rate=44100)
    frames, audio = _decode(path)
    assert len(frames) == 30
    assert [f.time for f in frames[:3]] == pytest.approx([0, 1 / 30, 2 / 30])
    assert frames[-1].time + frames[-1].duration == pytest.approx(1.0)
    assert frames[0].image.dtype == np.uint8 and frames[0].image.shape == (48, 64, 3)
    assert frames[5].image.mean() == pytest.approx(35, abs=3)  # the grey ramp, in order
    assert audio.dtype == np.float32 and abs(audio.size - 16000) < 1024  # AAC pads the last packet
    assert np.argmax(np.abs(audio)) / 16000 == pytest.approx(0.55, abs=0.003)


def test_separate_audio_file_and_segment(tmp_path):
    video = write_video(tmp_path / "silent.mp4", seconds=2.0)
    wav = tmp_path / "voice.wav"
    sf.write(wav, burst(2.0, at=1.3, sample_rate=22050), 22050)
    frames, audio = _decode(video, wav)
    assert np.argmax(np.abs(audio)) / 16000 == pytest.approx(1.3, abs=0.002)
    frames, audio = _decode(video, wav, start=1.0, end=1.5)
    assert frames[0].time == pytest.approx(0, abs=1e-6) and len(frames) == 15
    assert audio.size == 8000
    assert np.argmax(np.abs(audio)) / 16000 == pytest.approx(0.3, abs=0.002)


def test_missing_corrupt_and_silent_media(tmp_path):
    with pytest.raises(MediaError, match="file not found"):
        list(read_media(tmp_path / "nope.mp4"))
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(np.random.default_rng(0).bytes(5000))
    with pytest.raises(MediaError, match="junk.mp4: cannot decode"):
        list(read_media(junk))
    with pytest.raises(MediaError, match="no audio track"):
        list(read_media(write_video(tmp_path / "mute.mp4")))
    items = list(read_media(tmp_path / "mute.mp4", require_audio=False))  # the frames alone
    assert len(items) == 30 and all(isinstance(item, VideoFrame) for item in items)


@pytest.mark.parametrize(("container_format", "video_codec"), [("mpegts", "mpeg4"), ("flv", "flv")])
def test_the_audio_track_is_found_whatever_streams_come_first(tmp_path, container_format, video_codec):
    """Files that hold a data stream besides MP3 audio and video (as FLV files of some corpora do, with the
    data stream first) give the video's own audio track."""
    path = write_with_data_stream(tmp_path / f"clip.{container_format}", container_format, video_codec,
                                  burst(1.0, at=0.55, sample_rate=22050))
    with av.open(str(path)) as container:
        assert container.streams.data or container.streams.subtitles  # the extra stream is there
        assert container.streams[0].type != "video"
    frames, audio = _decode(path)
    assert len(frames) == 25 and frames[-1].time + frames[-1].duration == pytest.approx(1.0)
    assert abs(audio.size - 16000) < 1600  # MP3 adds an encoder delay and pads the last frame
    assert np.argmax(np.abs(audio)) / 16000 == pytest.approx(0.55, abs=0.05)


def test_step_grid():
    assert [step_time(i, 10.0) for i in range(3)] == pytest.approx([0.05, 0.15, 0.25])
    assert num_steps(1.57, 10.0) == 15 and num_steps(2.0, 10.0) == 20 and num_steps(0.09, 10.0) == 0


def test_window_is_centred_on_the_step_time():
    """A burst at a step time lands in the two middle frames of that step's window, and moves by one
    step (10 frames) in the neighbouring steps' windows."""
    mels = IngestParams().log_mel()
    assert mels.frames == 96
    mels.push(burst(2.0, at=step_time(7, 10.0)))
    mels.finish()
    peaks = {i: mels.window_at(step_time(i, 10.0)).max(axis=1) for i in (6, 7, 8)}
    assert peaks[7].shape == (96,) and mels.window_at(1.0).shape == (96, 64)
    for i, expected in ((6, 57.5), (7, 47.5), (8, 37.5)):
        top = np.sort(np.argsort(peaks[i])[-2:])
        assert top.mean() == expected  # symmetric about the window centre: frames 47 and 48 for step 7
        assert peaks[i][top[0]] == pytest.approx(peaks[i][top[1]], abs=0.05)


def test_windows_zero_pad_edges_and_streaming_matches_whole():
    rng = np.random.default_rng(1)
    audio = rng.normal(0, 0.1, 32000).astype(np.float32)
    whole = IngestParams().log_mel()
    whole.push(audio)
    whole.finish()
    times = [step_time(i, 10.0) for i in range(20)]
    expected = [whole.window_at(t) for t in times]
    floor = np.log(0.01)
    assert np.allclose(expected[0][:40], floor)  # before the clip start: silence
    assert np.allclose(expected[-1][-40:], floor)  # after its end
    assert expected[10].min() > floor + 0.5

    live, got = IngestParams().log_mel(), []
    pending = list(times)
    for start in range(0, audio.size, 700):  # chunks as from a microphone
        live.push(audio[start:start + 700])
        while pending and live.ready(pending[0]):
            got.append(live.window_at(pending.pop(0)))
    assert len(got) == 15  # step 14 (1.45 s) needs audio up to 1.94 s; step 15 waits for the end
    live.finish()
    got += [live.window_at(t) for t in pending]
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="asked after"):
        live.window_at(0.05)


def test_windows_sharing_frames_equal_windows_computed_alone():
    """Consecutive windows reuse the frames they share; any sequence of times gives what a fresh
    extractor computes for each time alone (to float32 rounding: the frames are computed in batches
    of other sizes), and a caller writing into a window changes nothing later."""
    audio = np.random.default_rng(2).normal(0, 0.1, 48000).astype(np.float32)
    times = [0.05, 0.15, 0.15, 0.25, 0.55, 0.603, 0.653, 1.65, 2.95]  # next step, same, skips, off the grid, far

    def alone(t):
        mels = IngestParams().log_mel()
        mels.push(audio)
        mels.finish()
        return mels.window_at(t)

    shared = IngestParams().log_mel()
    shared.push(audio)
    shared.finish()
    for t in times:
        window = shared.window_at(t)
        np.testing.assert_allclose(window, alone(t), rtol=0, atol=1e-5)
        window[:] = 0


def test_steps_take_the_frame_shown_and_the_audio_centred_at_their_time(tmp_path):
    """Frame k of the test video has grey level 7k; with no face the crop is the frame's centre, so its
    level names the frame used. A burst at step 6's time sits in the two middle frames of step 6's window."""
    levels = np.arange(36) * 7
    frames = np.broadcast_to(levels.astype(np.uint8)[:, None, None, None], (36, 48, 64, 3))
    path = write_video(tmp_path / "grid.mov", frames=frames, audio=burst(1.2, at=step_time(6, 10.0)), codec="png")
    sampler = IngestParams().sampler()
    steps = [step for item in read_media(path) for step in sampler.push(item)] + sampler.finish()
    assert [s.index for s in steps] == list(range(12))
    assert [s.time for s in steps] == pytest.approx([step_time(i, 10.0) for i in range(12)])
    for step in steps:
        shown = int(step.time * 30)  # the frame on screen at the step time
        assert np.all(step.face.image == levels[shown])
        assert not step.face.found and step.face.image.shape == (64, 64, 3)
        assert step.mel.shape == (96, 64)
    peak = [s.mel.max(axis=1) for s in steps]
    assert np.sort(np.argsort(peak[6])[-2:]).tolist() == [47, 48]
    assert int(np.argmax(peak[5])) in (57, 58) and int(np.argmax(peak[7])) in (37, 38)
