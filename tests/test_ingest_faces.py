"""The face tracker on generated frames: it finds the face, follows a moving face between detections,
keeps its box through misses, sticks to its face when another appears, re-acquires a face that
jumped away, and finds faces as small as its whole-frame search width allows."""

import cv2
import numpy as np
import pandas as pd
import pytest

from emo_env.data.faces import FaceTracker, crop_face, detect_faces
from emo_env.data.ingest import IngestParams
from emo_env.data.media import VideoFrame, read_media


@pytest.fixture(scope="module")
def clip(tiny_corpus):
    """The frames of one generated clip and their ground-truth boxes."""
    path = sorted(tiny_corpus.glob("*/*.mp4"))[0]
    frames = [item.image for item in read_media(path) if isinstance(item, VideoFrame)]
    truth = pd.read_csv(tiny_corpus / "face_boxes.csv")
    boxes = truth[truth["clip_id"] == path.stem].sort_values("frame")[["x", "y", "w", "h"]].to_numpy(np.float32)
    return frames, boxes


def _centre(box):
    return np.asarray(box[:2]) + np.asarray(box[2:]) / 2


class Feed:
    """Pushes images one per 0.1 s and asks for the crop at each."""

    def __init__(self, **kwargs):
        self.tracker, self.time = FaceTracker(**kwargs), 0.0

    def __call__(self, image):
        self.tracker.push(VideoFrame(self.time, 0.1, image))
        crop = self.tracker.crop_at(self.time)
        self.time += 0.1
        return crop


def test_detects_the_generated_face(clip):
    frames, boxes = clip
    found = detect_faces(frames[0])
    assert len(found) == 1
    assert np.abs(_centre(found[0]) - _centre(boxes[0])).max() < 0.15 * boxes[0][2]


def test_keeps_the_box_through_misses_and_its_face_among_two(clip):
    frames, boxes = clip
    feed = Feed()
    for image in frames[:3]:
        crop = feed(image)
    assert crop.found and crop.image.shape == (64, 64, 3)
    blank = np.full_like(frames[3], 128)
    missed = feed(blank)
    assert not missed.found and np.array_equal(missed.box, crop.box)
    assert np.array_equal(missed.image, crop_face(blank, crop.box, 64))

    two = np.concatenate([frames[4], frames[4]], axis=1)  # a second face to the right
    assert len(detect_faces(two)) == 2
    crop = feed(two)
    assert crop.found and abs(_centre(crop.box)[0] - _centre(boxes[4])[0]) < 0.2 * boxes[4][2]


def _placed(image, x, width=640):
    canvas = np.zeros((image.shape[0], width, 3), np.uint8)
    canvas[:, x:x + image.shape[1]] = image
    return canvas


@pytest.mark.parametrize("detect_every", [1, 3, 6])
def test_follows_a_face_moving_a_quarter_of_its_width_per_step(clip, detect_every):
    frames, boxes = clip
    speed = round(0.25 * boxes[0][2])
    feed = Feed(detect_every=detect_every)
    for step in range(12):
        crop = feed(_placed(frames[step], step * speed, width=320 + 12 * speed))
        truth = boxes[step] + np.array([step * speed, 0, 0, 0], np.float32)
        assert crop.found, step
        assert np.abs(_centre(crop.box) - _centre(truth)).max() < 0.2 * truth[2], step


def test_a_face_lost_between_detections_is_a_miss_that_holds_the_box(clip):
    frames, _ = clip
    feed = Feed(detect_every=3)
    crop = feed(frames[0])
    missed = feed(np.full_like(frames[1], 128))  # a followed step: nothing to match
    assert crop.found and not missed.found and np.array_equal(missed.box, crop.box)
    assert feed(frames[2]).found


def test_reacquires_a_face_that_jumped_away(clip):
    frames, boxes = clip
    placed = _placed

    feed = Feed(reacquire_after=3)
    assert feed(placed(frames[0], 0)).found
    moved = placed(frames[1], 300)  # the face jumps 300 px right, out of the search window
    assert [feed(moved).found for _ in range(3)] == [False, False, False]
    crop = feed(moved)
    assert crop.found and abs(_centre(crop.box)[0] - (_centre(boxes[1])[0] + 300)) < 0.2 * boxes[1][2]


@pytest.mark.parametrize("width, found", [(160, False), (320, True)])
def test_the_whole_frame_search_width_sets_the_smallest_face_found(clip, width, found):
    frames, boxes = clip
    small = cv2.resize(frames[0], None, fx=0.72, fy=0.72, interpolation=cv2.INTER_AREA)  # a face of ~0.19 x 480 px
    canvas = np.zeros((480, 640, 3), np.uint8)
    canvas[150:150 + small.shape[0], 200:200 + small.shape[1]] = small
    tracker = IngestParams(face_detect_width=width).sampler().tracker  # the setting reaches ingest's tracker
    tracker.push(VideoFrame(0.0, 0.1, canvas))
    crop = tracker.crop_at(0.0)
    assert crop.found == found  # at 160 px wide the face is under the detector's 24 pixels
    if found:
        truth = 0.72 * boxes[0] + np.array([200, 150, 0, 0], np.float32)
        assert np.abs(_centre(crop.box) - _centre(truth)).max() < 0.15 * truth[2]


def test_before_any_detection_the_box_is_the_centre_square():
    feed = Feed()
    crop = feed(np.zeros((240, 320, 3), np.uint8))
    assert not crop.found and crop.box.tolist() == [100.0, 60.0, 120.0, 120.0]
