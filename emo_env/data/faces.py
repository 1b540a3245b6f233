"""Face detection and tracking: OpenCV's Haar cascade, a followed track, and the face crop.

The tracker looks for the face only when asked for a crop (ingest asks once per step, so 10 times
per second at the default step rate); frames in between are only kept until a later one replaces
them. Without a track, the detector scans the whole frame (scaled to ``detect_width``) and the
largest face starts the track. With a track, the detector runs at every ``detect_every``-th crop and
scans only the track's neighbourhood for faces of about the track's size (cheap, and a stray
detection elsewhere cannot pull the track away); the detection nearest the track's centre updates
it through an exponential moving average of the box. At the crops in between, the face is followed:
the box moves to where the grey appearance of the last detection matches best (normalised
cross-correlation) in the neighbourhood, about 20 times cheaper than detecting. When the face is
missed, the track keeps its last box; after ``reacquire_after`` misses in a row the whole frame is
scanned again. Before the first detection the box is a centred square covering half the frame's
shorter side.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from functools import cache

import cv2
import cv2.data  # the Haar cascade files (an explicit import: OpenCV's stubs do not list the subpackage)
import numpy as np

from .media import VideoFrame

__all__ = ["MIN_FACE_PIXELS", "TIME_TOLERANCE", "FaceCrop", "FaceTracker", "detect_faces", "crop_face"]

CASCADE = "haarcascade_frontalface_default.xml"
TIME_TOLERANCE = 1e-6  # a frame within this many seconds of a time counts as shown at it
MIN_FACE_PIXELS = 24  # the side of the cascade's window: the smallest face it finds


@dataclass(frozen=True)
class FaceCrop:
    """The face at one time: the RGB crop, its box in frame pixels, and whether the face was located."""

    image: np.ndarray  # uint8 [S, S, 3]
    box: np.ndarray  # float32 [4]: x, y, w, h
    found: bool  # the face was detected or followed in this frame (else the box is held from before)


@cache
def _cascade(name: str) -> cv2.CascadeClassifier:
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + name)
    if cascade.empty():
        raise RuntimeError(f"OpenCV cannot load the Haar cascade {name}")
    return cascade


def detect_faces(image: np.ndarray, *, scale: float = 1.0, min_size: float = MIN_FACE_PIXELS, max_size: float = 0,
                 scale_step: float = 1.1) -> np.ndarray:
    """Face boxes ``[n, 4]`` (x, y, w, h, float32, pixels of ``image``) in an RGB image.

    The image is resized by ``scale`` first; ``min_size``/``max_size`` (0: none) bound the face
    side in pixels of the resized image (the cascade's smallest face is :data:`MIN_FACE_PIXELS`); ``scale_step``
    is the ratio between the face sizes tried (OpenCV's ``scaleFactor``).
    """
    height, width = image.shape[:2]
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)  # (histogram equalization loses pale faces on bright backgrounds)
    if scale != 1.0:  # grey first: resizing one channel costs a third
        gray = cv2.resize(gray, (max(1, round(width * scale)), max(1, round(height * scale))),
                          interpolation=cv2.INTER_AREA)
    low, high = max(MIN_FACE_PIXELS, round(min_size)), round(max_size)
    boxes = _cascade(CASCADE).detectMultiScale(gray, scaleFactor=scale_step, minNeighbors=5, minSize=(low, low),
                                               maxSize=(high, high))
    return np.asarray(boxes, np.float32).reshape(-1, 4) / scale


def crop_face(image: np.ndarray, box: np.ndarray, size: int) -> np.ndarray:
    """Crop ``box`` (x, y, w, h) from an RGB frame, zero-padding outside it, resized to ``size``."""
    x0, y0 = round(float(box[0])), round(float(box[1]))
    x1, y1 = x0 + max(1, round(float(box[2]))), y0 + max(1, round(float(box[3])))
    height, width = image.shape[:2]
    patch = np.zeros((y1 - y0, x1 - x0, 3), np.uint8)
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    if cx1 > cx0 and cy1 > cy0:
        patch[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0] = image[cy0:cy1, cx0:cx1]
    return cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA)


class FaceTracker:
    """Feed frames in time order with :meth:`push`; ask for the face at a time with :meth:`crop_at`.

    ``crop_at(t)`` uses the latest pushed frame shown at ``t`` (time <= t); times asked must not
    decrease. ``smoothing`` is the weight of a new detection in the moving average of the box;
    ``margin`` grows the box on each side into the neighbourhood searched; ``search_face`` is the side
    the track's face is scaled to for detection, which looks for faces within ``size_change`` times
    that; ``scale_step`` is the ratio between the face sizes the detector tries; ``detect_every`` is
    the detection period in crops, ``template_size`` the side of the appearance followed in between
    and ``min_match`` the correlation below which following misses.
    """

    def __init__(
        self,
        face_size: int = 64,
        *,
        smoothing: float = 0.6,
        margin: float = 0.5,
        reacquire_after: int = 5,
        detect_width: int = 160,
        min_face: float = 0.15,
        search_face: int = 64,
        size_change: float = 1.4,
        scale_step: float = 1.2,
        detect_every: int = 6,
        template_size: int = 32,
        min_match: float = 0.6,
    ) -> None:
        self.face_size = face_size
        self.smoothing = smoothing
        self.margin = margin
        self.reacquire_after = reacquire_after
        self.detect_width = detect_width
        self.min_face = min_face
        self.search_face = search_face
        self.size_change = size_change
        self.scale_step = scale_step
        self.detect_every = detect_every
        self.template_size = template_size
        self.min_match = min_match
        self._frames: deque[VideoFrame] = deque()
        self._box: np.ndarray | None = None
        self._misses = 0
        self._template: np.ndarray | None = None  # the face's grey appearance at the last detection
        self._followed = 0  # crops since the last detection

    def push(self, frame: VideoFrame) -> None:
        """Add the next frame (its image is only read if a crop needs it)."""
        if self._frames and frame.time < self._frames[-1].time:
            raise ValueError(f"frame at {frame.time:.3f} s pushed after one at {self._frames[-1].time:.3f} s")
        self._frames.append(frame)

    def crop_at(self, time: float) -> FaceCrop:
        """Detect and track in the frame shown at ``time`` and return the face crop."""
        if not self._frames:
            raise ValueError("no frame pushed yet")
        while len(self._frames) > 1 and self._frames[1].time <= time + TIME_TOLERANCE:
            self._frames.popleft()
        image = self._frames[0].image
        found = self._observe(image)
        box = self._box if self._box is not None else _centre_square(image)
        return FaceCrop(crop_face(image, box, self.face_size), box.astype(np.float32), found)

    def _observe(self, image: np.ndarray) -> bool:
        searching = self._box is None or self._misses >= self.reacquire_after
        if not searching and self._template is not None and self._followed < self.detect_every - 1:
            self._followed += 1
            return self._follow(image)
        self._followed = 0
        boxes = self._search_frame(image) if searching else self._search_near_track(image)
        if not len(boxes):
            self._misses += 1
            self._template = None
            return False
        if searching:
            self._box = boxes[np.argmax(boxes[:, 2] * boxes[:, 3])]
        else:
            assert self._box is not None  # not searching: there is a track
            nearest = np.argmin(np.linalg.norm(_centres(boxes) - _centres(self._box[None]), axis=1))
            self._box = self.smoothing * boxes[nearest] + (1 - self.smoothing) * self._box
        self._misses = 0
        self._template = self._grey(image, self._box, self.template_size / self._box[2])
        return True

    def _follow(self, image: np.ndarray) -> bool:
        """Move the box to where the last detection's appearance matches best in the track's neighbourhood."""
        assert self._box is not None and self._template is not None  # _observe follows a detected track only
        x0, y0, x1, y1 = self._neighbourhood(image)
        scale = self.template_size / self._box[2]
        region = self._grey(image, np.array([x0, y0, x1 - x0, y1 - y0], np.float32), scale)
        if region.shape[0] < self._template.shape[0] or region.shape[1] < self._template.shape[1]:
            self._misses += 1
            return False
        scores = cv2.matchTemplate(region, self._template, cv2.TM_CCOEFF_NORMED)
        _, best, _, (dx, dy) = cv2.minMaxLoc(scores)
        if not best >= self.min_match:
            self._misses += 1
            return False
        self._box = np.array([x0 + dx / scale, y0 + dy / scale, *self._box[2:]], np.float32)
        self._misses = 0
        return True

    @staticmethod
    def _grey(image: np.ndarray, box: np.ndarray, scale: float) -> np.ndarray:
        """The grey pixels of ``box`` (clipped to the image) resized by ``scale``."""
        x0, y0 = max(0, round(float(box[0]))), max(0, round(float(box[1])))
        x1 = min(image.shape[1], round(float(box[0] + box[2])))
        y1 = min(image.shape[0], round(float(box[1] + box[3])))
        patch = image[y0:y1, x0:x1]
        size = (max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale)))
        return cv2.resize(cv2.cvtColor(patch, cv2.COLOR_RGB2GRAY), size, interpolation=cv2.INTER_AREA)

    def _neighbourhood(self, image: np.ndarray) -> tuple[int, int, int, int]:
        """The track's box grown by ``margin`` on each side, clipped to the image: x0, y0, x1, y1."""
        assert self._box is not None  # asked only while there is a track
        x, y, w, h = self._box
        height, width = image.shape[:2]
        return (max(0, round(x - self.margin * w)), max(0, round(y - self.margin * h)),
                min(width, round(x + (1 + self.margin) * w)), min(height, round(y + (1 + self.margin) * h)))

    def _search_frame(self, image: np.ndarray) -> np.ndarray:
        scale = min(1.0, self.detect_width / image.shape[1])
        return detect_faces(image, scale=scale, min_size=self.min_face * min(image.shape[:2]) * scale,
                            scale_step=self.scale_step)

    def _search_near_track(self, image: np.ndarray) -> np.ndarray:
        """Detect in the track's neighbourhood, for faces within ``size_change`` times its size."""
        assert self._box is not None  # searched near a track only
        x0, y0, x1, y1 = self._neighbourhood(image)
        if x1 - x0 < 8 or y1 - y0 < 8:
            return np.zeros((0, 4), np.float32)
        scale = self.search_face / max(self._box[2:])
        boxes = detect_faces(image[y0:y1, x0:x1], scale=scale, min_size=self.search_face / self.size_change,
                             max_size=self.search_face * self.size_change, scale_step=self.scale_step)
        return boxes + np.array([x0, y0, 0, 0], np.float32)


def _centres(boxes: np.ndarray) -> np.ndarray:
    return boxes[:, :2] + boxes[:, 2:] / 2


def _centre_square(image: np.ndarray) -> np.ndarray:
    height, width = image.shape[:2]
    side = min(height, width) / 2
    return np.array([(width - side) / 2, (height - side) / 2, side, side], np.float32)
