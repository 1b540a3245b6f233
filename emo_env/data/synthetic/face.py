"""Synthetic faces drawn with OpenCV: a speaker's identity, facial action units, one clip's frames.

The face is drawn in a head-centred sprite (shaded skin, hair, ears, then the moving parts: brows,
eyes and lids, nose wrinkles, folds, lips, teeth), placed over a static background at the head's
pose for the frame, then lit and given sensor noise. Lengths are in pixels of a 240-pixel-high
frame and scale with the frame height. Images are RGB uint8.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from emo_env.data.synthetic.expression import NEUTRAL, separate

__all__ = ["AUS", "FACE_PROFILES", "FACE_GROUPS", "FaceIdentity", "FaceTrack", "FaceScene", "face_box"]

# Facial action units (FACS number in brackets) that the renderer understands, 0 = relaxed.
AUS = ("inner_brow_raise",  # AU1
       "outer_brow_raise",  # AU2
       "brow_lower",  # AU4
       "upper_lid_raise",  # AU5
       "cheek_raise",  # AU6
       "lid_tighten",  # AU7
       "nose_wrinkle",  # AU9
       "upper_lip_raise",  # AU10
       "lip_corner_pull",  # AU12
       "lip_corner_depress",  # AU15
       "lip_stretch",  # AU20
       "lip_press",  # AU24
       "jaw_drop",  # AU26
       "lid_droop")  # AU43 (partial)
_AU = {name: i for i, name in enumerate(AUS)}


def _profile(**units: float) -> np.ndarray:
    out = np.zeros(len(AUS))
    for name, value in units.items():
        out[_AU[name]] = value
    return out


# Prototype expressions at the apex (after Ekman and Friesen's EMFACS descriptions): happy 6+12,
# surprise 1+2+5+26, sad 1+4+6+15 (+43), fear 1+2+4+5+7+20(+26), anger 4+5+7+10+24, disgust 4+9+10(+15).
FACE_PROFILES = {
    "happy": _profile(cheek_raise=0.8, lip_corner_pull=1.0, lid_tighten=0.2, jaw_drop=0.15),
    "surprise": _profile(inner_brow_raise=1.0, outer_brow_raise=1.0, upper_lid_raise=0.9, jaw_drop=0.9),
    "sad": _profile(inner_brow_raise=1.2, brow_lower=0.3, cheek_raise=1.0, lip_corner_depress=0.7, lid_droop=0.7),
    "fear": _profile(inner_brow_raise=1.0, outer_brow_raise=0.3, brow_lower=0.5, upper_lid_raise=0.7,
                     lid_tighten=0.4, lip_stretch=1.0, jaw_drop=0.1),
    "anger": _profile(brow_lower=1.2, upper_lid_raise=0.7, lid_tighten=0.8, upper_lip_raise=0.7, lip_press=1.0),
    "disgust": _profile(brow_lower=0.6, nose_wrinkle=1.0, upper_lip_raise=1.0, lip_corner_depress=0.4,
                        lid_tighten=0.4, cheek_raise=0.3),
    NEUTRAL: _profile(),
}
# Emotions whose faces look alike; the voice tells them apart.
FACE_GROUPS = (("fear", "surprise"), ("anger", "disgust"))

_SKIN_LIGHT = np.array([236.0, 198.0, 172.0])
_SKIN_DARK = np.array([112.0, 74.0, 52.0])
_HAIR = np.array([[28, 22, 20], [62, 42, 30], [112, 78, 48], [190, 160, 110], [150, 146, 140], [120, 52, 30]],
                 dtype=np.float64)
_IRIS = np.array([[70, 45, 30], [40, 28, 22], [70, 100, 140], [80, 105, 70], [110, 85, 50]], dtype=np.float64)
_SCLERA = np.array([222.0, 217.0, 210.0])
_NOISE_PAD = 24  # sensor-noise field margin for per-frame shifts
_IRIS_SIZE = 0.55  # iris radius / eye half-width
_MOUTH_DARK = (58, 18, 24, 255)
_TEETH = (226, 222, 208, 255)
_PUPIL = (12, 10, 10, 255)
_GLINT = (250, 250, 250, 255)
_LASH = (25, 18, 16, 255)
_U = np.linspace(-1.0, 1.0, 11)  # samples across a feature
_BOW = np.exp(-(_U / 0.12) ** 2)  # the cupid's bow dip of the upper lip
_T = np.linspace(0.0, 1.0, 7)[:, None]
_RING = np.stack([np.cos(np.linspace(0, 2 * np.pi, 12, endpoint=False)),
                  np.sin(np.linspace(0, 2 * np.pi, 12, endpoint=False))], 1)


def _rgba(color: np.ndarray | tuple) -> tuple[float, ...]:
    return tuple(float(c) for c in np.clip(color, 0, 255)) + (255.0,)


def _bezier(p0: np.ndarray, p1: np.ndarray, p2: np.ndarray) -> np.ndarray:
    """Points ``[T, 7, 2]`` along quadratic Bezier curves p0 -> p2 bent toward p1 (each ``[T, 2]``)."""
    p0, p1, p2 = (np.asarray(p)[:, None, :] for p in (p0, p1, p2))
    return (1 - _T) ** 2 * p0 + 2 * _T * (1 - _T) * p1 + _T ** 2 * p2


def _xy(x: np.ndarray | float, y: np.ndarray | float) -> np.ndarray:
    """Stack broadcast x and y coordinates into points ``[..., 2]``."""
    return np.stack(np.broadcast_arrays(x, y), -1)


@dataclass
class _Stroke:
    """One drawn shape over a clip: a polyline (``thick`` > 0) or a filled polygon (``thick`` 0)."""

    points: np.ndarray  # [T, n, 2] int32 fixed-point sprite pixels, or [n, 2] for every frame
    color: np.ndarray  # [T] index into the scene's palette, or a scalar for every frame
    thick: np.ndarray  # [T] line thickness in pixels, 0 = filled; or a scalar
    show: np.ndarray  # [T] bool, or a scalar

    def at(self, i: int) -> tuple[np.ndarray, int, int, bool]:
        """Points, colour, thickness and visibility in frame ``i``."""
        return (self.points if self.points.ndim == 2 else self.points[i],
                int(self.color if self.color.ndim == 0 else self.color[i]),
                int(self.thick if self.thick.ndim == 0 else self.thick[i]),
                bool(self.show if self.show.ndim == 0 else self.show[i]))


@dataclass
class _Eye:
    """An eye over a clip: the opening between the lids and the iris, pupil and glint inside it."""

    box: np.ndarray  # [T, 4] x0, y0, x1, y1 sprite pixels of the region drawn
    opening: np.ndarray  # [T, n, 2] int32 fixed-point, relative to the region
    iris: np.ndarray  # [T, 2] int32 fixed-point centre, relative to the region
    glint: np.ndarray  # [T, 2]
    show: np.ndarray  # [T] bool: open enough to see


def _muted(rng: np.random.Generator, saturation: float = 0.35) -> np.ndarray:
    """A random RGB colour of low saturation, as walls and furniture are."""
    grey = rng.uniform(35, 215)
    return np.clip(grey + saturation * rng.uniform(-1, 1, 3) * min(grey, 255 - grey), 0, 255)


@dataclass(frozen=True)
class FaceIdentity:
    """A speaker's face: geometry (ratios of the head's half-width ``a`` / half-height ``b``),
    colours, and the personal deviations of resting face and of each emotion's action units."""

    a: float
    b: float
    eye_dx: float
    eye_y: float
    eye_w: float
    eye_h: float
    brow_gap: float
    brow_thick: float
    brow_arch: float
    nose_y: float
    nose_w: float
    mouth_y: float
    mouth_w: float
    lip_upper: float
    lip_lower: float
    skin: tuple[float, float, float]
    hair: tuple[float, float, float]
    iris: tuple[float, float, float]
    lips: tuple[float, float, float]
    long_hair: bool
    hairline: float
    rest: np.ndarray
    style: dict[str, np.ndarray]

    @classmethod
    def sample(cls, rng: np.random.Generator, spread: float = 1.0, style_spread: float = 1.0) -> FaceIdentity:
        """Draw a random identity; ``spread`` scales geometry/colour variation, ``style_spread`` the
        personal expression style."""

        def vary(mean: float, sd: float) -> float:
            return float(mean + spread * sd * np.clip(rng.standard_normal(), -2.2, 2.2))

        tone = float(np.clip(0.35 + spread * 0.3 * rng.uniform(-1, 1), 0.0, 0.85))
        skin = (1 - tone) * _SKIN_LIGHT + tone * _SKIN_DARK + rng.normal(0, 5 * spread, 3)
        hair = _HAIR[rng.integers(len(_HAIR))] + rng.normal(0, 6, 3)
        hair *= min(1.0, 0.45 * skin.mean() / hair.mean())  # darker than the skin, so the face stands out
        iris = _IRIS[rng.integers(len(_IRIS))] + rng.normal(0, 6, 3)
        lips = skin * np.array([0.8, 0.5, 0.52]) + np.array([30.0, 0.0, 4.0])
        a = vary(54.0, 3.0)
        style = {name: style_spread * rng.normal(0.0, 0.18, len(AUS)) * (p > 0) for name, p in FACE_PROFILES.items()}
        return cls(a=a, b=a * vary(1.36, 0.05), eye_dx=vary(0.45, 0.025), eye_y=vary(-0.03, 0.02),
                   eye_w=vary(0.2, 0.015), eye_h=vary(0.085, 0.008), brow_gap=vary(0.30, 0.03),
                   brow_thick=vary(0.075, 0.012), brow_arch=vary(0.07, 0.02), nose_y=vary(0.28, 0.02),
                   nose_w=vary(0.17, 0.015), mouth_y=vary(0.55, 0.025), mouth_w=vary(0.36, 0.03),
                   lip_upper=vary(0.055, 0.008), lip_lower=vary(0.075, 0.01),
                   skin=tuple(np.clip(skin, 0, 255)), hair=tuple(np.clip(hair, 0, 255)),
                   iris=tuple(np.clip(iris, 0, 255)), lips=tuple(np.clip(lips, 0, 255)),
                   long_hair=bool(rng.random() < 0.4), hairline=vary(-0.62, 0.04),
                   rest=spread * rng.normal(0.0, 0.08, len(AUS)), style=style)

    def expression(self, emotion: str, separation: float) -> np.ndarray:
        """This speaker's action units at the apex of ``emotion`` (before the clip's intensity)."""
        proto = separate(FACE_PROFILES, FACE_GROUPS, separation)[emotion]
        return np.clip(proto + self.style[emotion], 0.0, 1.2)


@dataclass
class FaceTrack:
    """Everything that moves in one clip, per video frame (``T`` frames)."""

    aus: np.ndarray  # [T, len(AUS)] action units
    mouth_open: np.ndarray  # [T] speech mouth opening, 0..1
    mouth_round: np.ndarray  # [T] -1 spread (i) .. 1 rounded (u)
    blink: np.ndarray  # [T] 0 open .. 1 closed
    gaze: np.ndarray  # [T, 2] iris offset, fraction of the eye half-width
    pose: np.ndarray  # [T, 4] dx, dy (pixels), roll (degrees), zoom (relative)
    light: np.ndarray  # [T] brightness gain (around 1)


def face_box(identity: FaceIdentity, centre: np.ndarray, scale: float, roll_deg: np.ndarray,
             zoom: np.ndarray) -> np.ndarray:
    """Ground-truth face boxes ``[T, 4]`` (x, y, w, h) of a head at ``centre`` ``[T, 2]`` (pixels), rolled
    and zoomed, framed as OpenCV's frontal Haar cascade frames a face: a square from the forehead to
    just below the chin and across the cheeks, centred a little below the head's centre (constants
    measured on rendered faces)."""
    side = 2.45 * identity.a * scale * np.asarray(zoom)
    t = np.deg2rad(roll_deg)
    drop = 0.125 * identity.b * scale * np.asarray(zoom)  # box centre below the head centre, along the face axis
    cx, cy = centre[:, 0] + drop * np.sin(t), centre[:, 1] + drop * np.cos(t)
    return np.stack([cx - side / 2, cy - side / 2, side, side], 1).astype(np.float32)


class FaceScene:
    """One clip's camera view: background, shaded head sprite, and the per-frame drawing."""

    _SHIFT = 4  # sub-pixel bits for OpenCV drawing

    def __init__(self, identity: FaceIdentity, width: int, height: int, rng: np.random.Generator,
                 image_noise: float) -> None:
        self.id = identity
        self.width, self.height = width, height
        self.k = height / 240.0
        self.a = identity.a * self.k
        self.b = identity.b * self.k
        self.center = (width * (0.5 + rng.uniform(-0.08, 0.08)), height * (0.47 + rng.uniform(-0.04, 0.04)))
        half_w, half_h = int(np.ceil(1.3 * self.a)), int(np.ceil(1.18 * self.b))
        self.origin = np.array([half_w, half_h], dtype=np.float64)  # head centre inside the sprite
        self.sprite_size = (2 * half_w, 2 * half_h)
        self._fixed_scale = self.k * (1 << self._SHIFT)
        self._fixed_offset = self.origin * (1 << self._SHIFT) + 0.5
        light_dir = rng.uniform(-1.0, 1.0)
        self.background = self._background(rng)
        self.sprite = self._sprite(rng, light_dir)
        skin = np.array(identity.skin)
        # Palette: skin darkened in steps of 0.05 (wrinkles, folds), then the features' colours.
        self.palette = [_rgba(skin * (1.0 - d)) for d in np.arange(0.0, 0.7, 0.05)]
        named = {"brow": 0.5 * np.minimum(identity.hair, skin),  # brows are darker than skin, even blonde ones
                 "lips": identity.lips, "lip_line": np.array(identity.lips) * 0.55,
                 "lash": _LASH, "teeth": _TEETH, "mouth": _MOUTH_DARK}
        self._color = {name: len(self.palette) + i for i, name in enumerate(named)}
        self.palette += [_rgba(np.asarray(c)[:3]) for c in named.values()]
        self._iris = _rgba(identity.iris)
        self._sclera = _rgba(0.5 * _SCLERA + 0.5 * 0.8 * skin)  # eye whites, dimmed by the socket's shadow
        iris_r = _IRIS_SIZE * identity.eye_w * identity.a  # iris, pupil, glint radii (fixed point)
        self._iris_radii = tuple(int(r) for r in np.array([1.0, 0.45, 0.16]) * iris_r * self._fixed_scale)
        # Sensor noise (+128, so one saturating op adds it): a frame's noise is a shifted crop of one field.
        field = (height + _NOISE_PAD, width + _NOISE_PAD, 3)
        noise = 128.0 + image_noise * rng.standard_normal(field, dtype=np.float32)
        self.noise = np.clip(np.round(noise), 0, 255).astype(np.uint8)
        self.noise_shifts = rng.integers(0, _NOISE_PAD + 1, (4096, 2))  # per frame, repeating after 4096

    # ---- geometry helpers -------------------------------------------------------------------
    def _pts(self, xy: np.ndarray) -> np.ndarray:
        """Head-centred coordinates (240-pixel units) -> fixed-point sprite pixels."""
        return (np.asarray(xy) * self._fixed_scale + self._fixed_offset).astype(np.int32)

    def _shade(self, depth: np.ndarray | float) -> np.ndarray:
        """Palette index of skin darkened by ``depth`` (0..0.65), for wrinkles and folds."""
        return np.clip((np.asarray(depth) * 20 + 0.5).astype(int), 0, self._color["brow"] - 1)

    def _stroke(self, points: np.ndarray, color: np.ndarray | int | str, thick: np.ndarray | float = 0.0,
                show: np.ndarray | bool = True) -> _Stroke:
        """A stroke from points in head coordinates; each argument is per frame (leading axis ``T``)
        or the same for every frame."""
        color = self._color[color] if isinstance(color, str) else color
        thickness = np.asarray(thick)
        width = np.where(thickness > 0, np.maximum(1, np.round(thickness * self.k)), 0).astype(int)
        return _Stroke(self._pts(points), np.asarray(color), width, np.asarray(show))

    # ---- static layers ------------------------------------------------------------------------
    def _background(self, rng: np.random.Generator) -> np.ndarray:
        h, w = self.height, self.width
        top, bottom = _muted(rng), _muted(rng)
        ramp = np.linspace(0.0, 1.0, h)[:, None, None]
        bg: np.ndarray = ((top * (1 - ramp) + bottom * ramp) * np.ones((1, w, 1))).astype(np.float32)
        for _ in range(rng.integers(2, 6)):  # furniture, frames, doors: soft-edged blocks
            x0, y0 = rng.uniform(-0.2, 1.0) * w, rng.uniform(-0.2, 1.0) * h
            x1, y1 = x0 + rng.uniform(0.1, 0.6) * w, y0 + rng.uniform(0.1, 0.6) * h
            color = _muted(rng)
            cv2.rectangle(bg, (int(x0), int(y0)), (int(x1), int(y1)), color.tolist(), -1)
        bg = cv2.GaussianBlur(bg, (0, 0), 1.5 * self.k)
        # Neck and shoulders (they stay put; the head moves a little over them).
        cx, cy = self.center
        clothes = _muted(rng, saturation=0.6).tolist()
        cv2.ellipse(bg, (int(cx), int(cy + 1.75 * self.b)), (int(2.1 * self.a), int(0.7 * self.b)), 0, 180, 360,
                    clothes, -1, cv2.LINE_AA)
        cv2.rectangle(bg, (int(cx - 2.1 * self.a), int(cy + 1.75 * self.b)), (int(cx + 2.1 * self.a), h), clothes, -1)
        neck = np.array(self.id.skin) * 0.78
        cv2.rectangle(bg, (int(cx - 0.5 * self.a), int(cy + 0.5 * self.b)), (int(cx + 0.5 * self.a),
                      int(cy + 1.45 * self.b)), neck.tolist(), -1)
        cv2.ellipse(bg, (int(cx), int(cy + 1.45 * self.b)), (int(0.5 * self.a), int(0.2 * self.b)), 0, 0, 180,
                    neck.tolist(), -1, cv2.LINE_AA)
        return np.clip(bg, 0, 255).astype(np.uint8)

    def _sprite(self, rng: np.random.Generator, light_dir: float) -> np.ndarray:
        """The head without its moving parts, RGBA, with skin shading and hair."""
        idt = self.id
        sw, sh = self.sprite_size
        a, b = idt.a, idt.b  # 240-pixel units; grids below are in the same units
        x1 = ((np.arange(sw) - self.origin[0]) / self.k).astype(np.float32)
        y1 = ((np.arange(sh) - self.origin[1]) / self.k).astype(np.float32)
        x, y = x1[None, :], y1[:, None]  # broadcast grids

        def blob(cx: float, cy: float, sx: float, sy: float) -> np.ndarray:
            return np.outer(np.exp(-0.5 * ((y1 - cy) / sy) ** 2), np.exp(-0.5 * ((x1 - cx) / sx) ** 2))

        r2 = (x / a) ** 2 + (y / b) ** 2
        shade = 1.0 - 0.28 * np.clip(r2, 0, 1) ** 2 + 0.10 * light_dir * x / a - 0.05 * y / b
        ex, ey, ew, eh = idt.eye_dx * a, idt.eye_y * b, idt.eye_w * a, idt.eye_h * a
        for side in (-1, 1):
            shade -= 0.3 * blob(side * ex, ey - 0.2 * eh, 1.5 * ew, 2.6 * eh)  # eye socket
            shade += 0.06 * blob(side * 0.45 * a, 0.18 * b, 0.2 * a, 0.12 * b)  # cheekbone
        ny = idt.nose_y * b
        shade += 0.08 * blob(0.0, (ey + ny) / 2, 0.06 * a, 0.25 * b)  # nose bridge
        shade -= 0.12 * blob(-np.sign(light_dir + 1e-3) * 0.11 * a, ny - 0.1 * b, 0.05 * a, 0.15 * b)  # nose side
        shade -= 0.18 * blob(0.0, ny + 0.07 * b, 0.15 * a, 0.035 * b)  # under the nose
        shade -= 0.12 * blob(0.0, idt.mouth_y * b + 0.16 * b, 0.2 * a, 0.04 * b)  # under the lower lip
        shade *= 1.0 + 0.03 * cv2.GaussianBlur(rng.standard_normal((sh, sw), dtype=np.float32), (0, 0), 1.2)  # texture
        face = np.array(idt.skin)[None, None, :] * shade[..., None]
        head = (r2 <= 1.0).astype(np.float32)
        sprite = np.zeros((sh, sw, 4), dtype=np.float32)
        # Ears behind the face outline.
        ears = np.zeros((sh, sw), dtype=np.float32)
        for side in (-1, 1):
            ear = ((x - side * 0.97 * a) / (0.16 * a)) ** 2 + ((y + 0.02 * b) / (0.24 * b)) ** 2 <= 1
            ears = np.maximum(ears, ear)
        # Hair: a cap above a hairline that dips at the temples; long hair also falls beside the face.
        hair_cap = (((x / (1.08 * a)) ** 2 + ((y + 0.04 * b) / (1.07 * b)) ** 2 <= 1)
                    & (y < idt.hairline * b + 0.5 * b * np.abs(x / a) ** 3))
        hair = hair_cap.astype(np.float32)
        if idt.long_hair:
            falls = ((np.abs(x) > 0.8 * a) & (np.abs(x) < 1.22 * a) & (y < 0.75 * b) & (y > -0.3 * b))
            hair = np.maximum(hair, falls * (1 - head))
        skin_rgb = np.array(idt.skin)
        sprite[..., :3] = np.where(ears[..., None] > 0, skin_rgb * 0.85, 0.0)
        sprite[..., 3] = ears
        sprite[..., :3] = np.where(head[..., None] > 0, face, sprite[..., :3])
        sprite[..., 3] = np.maximum(sprite[..., 3], head)
        strands = 1.0 + 0.12 * cv2.GaussianBlur(rng.standard_normal((sh, sw), dtype=np.float32), (0, 0),
                                                sigmaX=3.0, sigmaY=0.6)
        hair_rgb = np.array(idt.hair)[None, None, :] * (strands * (1.0 - 0.15 * y / b))[..., None]
        sprite[..., :3] = np.where(hair[..., None] > 0, hair_rgb, sprite[..., :3])
        sprite[..., 3] = np.maximum(sprite[..., 3], hair)
        sprite[..., 3] = cv2.GaussianBlur(sprite[..., 3], (0, 0), 0.6 * self.k)
        return np.clip(np.round(sprite * [1, 1, 1, 255]), 0, 255).astype(np.uint8)

    # ---- moving parts -------------------------------------------------------------------------
    def _plan(self, track: FaceTrack) -> tuple[list[_Stroke], list[_Eye]]:
        """Geometry of every moving part for every frame of the clip, computed at once."""
        au = {name: track.aus[:, i] for name, i in _AU.items()}
        strokes = self._brows(au)
        eyes, eye_strokes = self._eyes(au, track.blink, track.gaze)
        nose_y, nose_half_w, nose_strokes = self._nose(au)
        mouth = self._mouth(au, track.mouth_open, track.mouth_round, nose_y, nose_half_w)
        return strokes + eye_strokes + nose_strokes + mouth, eyes

    def _brows(self, au: dict[str, np.ndarray]) -> list[_Stroke]:
        """Forehead wrinkles, frown lines, and the brows (inner, middle, outer points)."""
        idt = self.id
        a, b = idt.a, idt.b
        ex, ey, ew = idt.eye_dx * a, idt.eye_y * b, idt.eye_w * a
        inner_up, outer_up = au["inner_brow_raise"], au["outer_brow_raise"]
        lower = au["brow_lower"] + 0.35 * au["nose_wrinkle"]
        raised = np.maximum(inner_up, outer_up)
        span = 0.38 * a * (0.45 + 0.55 * outer_up / np.maximum(raised, 1e-6))  # AU1 alone: wrinkles mid-forehead
        out = []
        for i in range(3):
            yy = ey - idt.brow_gap * a - (0.16 + 0.09 * i) * b
            out.append(self._stroke(_xy(_U * span[:, None], yy + 0.03 * b * _U ** 2),
                                    self._shade(np.minimum(0.15, 0.25 * (raised - 0.35))), 1.0, raised > 0.35))
        frown = au["brow_lower"]
        for side in (-1, 1):
            out.append(self._stroke(np.array([[side * 0.06 * a, ey - 0.33 * a], [side * 0.05 * a, ey - 0.18 * a]]),
                                    self._shade(np.minimum(0.35, 0.45 * (frown - 0.3))), 1.2, frown > 0.3))
        base = ey - idt.brow_gap * a
        oblique = inner_up * np.clip(1.0 - outer_up, 0.0, 1.0)  # AU1 without AU2: the outer end drops
        both_up = np.minimum(inner_up, outer_up)  # AU1 lifts the middle only together with AU2
        scowl = np.maximum(lower - 0.6, 0.0)  # a strong AU4 (anger) pulls the inner ends down further
        for side in (-1, 1):
            inner = _xy(side * (ex - 0.95 * ew - 0.12 * a * lower),
                        base + 0.02 * a - 0.15 * a * inner_up - 0.1 * a * oblique + 0.14 * a * lower + 0.1 * a * scowl)
            mid = _xy(side * (ex + 0.05 * ew),
                      base - idt.brow_arch * a - 0.04 * a * both_up - 0.06 * a * outer_up + 0.07 * a * lower)
            outer = _xy(side * (ex + 1.15 * ew),
                        base + 0.03 * a - 0.11 * a * outer_up + 0.03 * a * lower + 0.06 * a * oblique)
            out.append(self._stroke(_bezier(inner, mid, outer), "brow", idt.brow_thick * a))
        return out

    def _eyes(self, au: dict[str, np.ndarray], blink: np.ndarray, gaze: np.ndarray) -> tuple[list[_Eye], list[_Stroke]]:
        """Eye openings between the lids (with iris), lash lines, lower lids, creases, crow's feet."""
        idt = self.id
        a, b = idt.a, idt.b
        ex, ey, ew, eh = idt.eye_dx * a, idt.eye_y * b, idt.eye_w * a, idt.eye_h * a
        up = eh * np.maximum(0.0, 1.0 + 0.8 * au["upper_lid_raise"] - 0.45 * au["lid_tighten"]
                             - 0.6 * au["lid_droop"] - 0.25 * au["cheek_raise"]) * (1.0 - blink)
        low = eh * np.maximum(0.15, 0.8 - 0.35 * au["lid_tighten"] - 0.4 * au["cheek_raise"]
                              + 0.2 * au["upper_lid_raise"]) * (1.0 - 0.4 * blink)
        iris_r = _IRIS_SIZE * ew
        arch = np.cos(np.pi / 2 * _U)
        crow = au["cheek_raise"]
        eyes, out = [], []
        for side in (-1, 1):
            cx = side * ex
            xs = cx + _U * ew
            upper = _xy(xs, ey - up[:, None] * arch ** 0.8 + 0.08 * eh * side * _U)
            lower = _xy(xs, ey + low[:, None] * arch)
            top_left = self._pts(_xy(cx - ew - 1, ey - up - 1)) >> self._SHIFT
            bottom_right = (self._pts(_xy(cx + ew + 1, ey + low + 1)) >> self._SHIFT) + 1
            off = (top_left << self._SHIFT)[:, None, :]
            centre = _xy(cx + gaze[:, 0] * ew, ey + gaze[:, 1] * eh)
            eyes.append(_Eye(box=np.concatenate([top_left, bottom_right], 1),
                             opening=self._pts(np.concatenate([upper, lower[:, ::-1]], 1)) - off,
                             iris=self._pts(centre) - off[:, 0],
                             glint=self._pts(centre + [0.3 * iris_r, -0.3 * iris_r]) - off[:, 0],
                             show=up + low > 0.6))
            out.append(self._stroke(upper, "lash", np.where(up > 0.3 * eh, 1.6, 1.2)))
            out.append(self._stroke(lower, self._shade(0.35), 0.8))
            crease = _xy(xs, ey - up[:, None] - 0.25 * eh - 0.5 * eh * arch)
            out.append(self._stroke(crease[:, 2:-1], self._shade(0.22), 0.8))
            for dy in (-0.25, 0.05, 0.35):
                out.append(self._stroke(np.array([[cx + side * 1.12 * ew, ey + dy * eh],
                                                  [cx + side * 1.45 * ew, ey + 2.2 * dy * eh]]),
                                        self._shade(np.minimum(0.3, 0.4 * (crow - 0.3))), 0.8, crow > 0.3))
        return eyes, out

    def _nose(self, au: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, list[_Stroke]]:
        """Bridge wrinkles and nostrils (which flare and lift with the wrinkle); also returns the
        nostril height and half-width ``[T]`` for the folds."""
        idt = self.id
        a, b = idt.a, idt.b
        ey = idt.eye_y * b
        wrinkle = au["nose_wrinkle"]
        ny = idt.nose_y * b - 0.03 * b * wrinkle
        out = []
        for i in range(4):
            yy = ey + 0.03 * b + 0.04 * b * i
            chevron = np.array([[-0.11 * a, yy + 0.015 * b], [0.0, yy - 0.01 * b], [0.11 * a, yy + 0.015 * b]])
            out.append(self._stroke(chevron, self._shade(np.minimum(0.55, 0.7 * (wrinkle - 0.2))), 1.4, wrinkle > 0.2))
        half_w = idt.nose_w * a * (1.0 + 0.25 * wrinkle)
        tilt = np.deg2rad(20)
        for side in (-1, 1):
            ring = _RING * [0.32, 0.15]
            ring = ring @ np.array([[np.cos(tilt), side * np.sin(tilt)], [-side * np.sin(tilt), np.cos(tilt)]])
            nostril = _xy(side * 0.45 * half_w[:, None] + half_w[:, None] * ring[:, 0],
                          ny[:, None] + half_w[:, None] * ring[:, 1])
            out.append(self._stroke(nostril, self._shade(0.6)))
            wing = np.stack([_xy(side * half_w, ny - 0.06 * b), _xy(side * 1.1 * half_w, ny),
                             _xy(side * 0.7 * half_w, ny + 0.02 * b)], 1)
            out.append(self._stroke(wing, self._shade(0.3), 1.0))
        return ny, half_w, out

    def _mouth(self, au: dict[str, np.ndarray], mouth_open: np.ndarray, mouth_round: np.ndarray, nose_y: np.ndarray,
               nose_half_w: np.ndarray) -> list[_Stroke]:
        """Nasolabial folds, lips, and the opening with teeth when the lips part."""
        idt = self.id
        a, b = idt.a, idt.b
        my, mw = idt.mouth_y * b, idt.mouth_w * a
        pull, depress = au["lip_corner_pull"], au["lip_corner_depress"]
        stretch, press, snarl = au["lip_stretch"], au["lip_press"], au["upper_lip_raise"]
        corner_x = mw * (1.0 + 0.22 * pull + 0.3 * stretch - 0.18 * np.maximum(mouth_round, 0.0)
                         + 0.08 * np.maximum(-mouth_round, 0.0) - 0.08 * press)
        corner_y = my - 0.09 * b * pull + 0.15 * b * depress + 0.1 * b * stretch  # AU20 draws the corners back and down
        fold = 0.12 + 0.35 * au["cheek_raise"] + 0.3 * pull + 0.4 * snarl + 0.2 * au["nose_wrinkle"]
        out = []
        for side in (-1, 1):
            start = _xy(side * 1.15 * nose_half_w, nose_y - 0.03 * b)
            end = _xy(side * (corner_x + 0.1 * a), corner_y + 0.09 * b)
            bend = _xy(side * (corner_x + 0.12 * a), (start[:, 1] + end[:, 1]) / 2)
            out.append(self._stroke(_bezier(start, bend, end), self._shade(np.minimum(0.5, fold)), 1.1))
            droop = np.stack([_xy(side * (corner_x + 0.02 * a), corner_y + 0.02 * b),
                              _xy(side * (corner_x + 0.06 * a), corner_y + 0.13 * b)], 1)  # below a pulled-down corner
            out.append(self._stroke(droop, self._shade(np.minimum(0.35, 0.5 * (depress - 0.3))), 1.0, depress > 0.3))
        opening = np.maximum(0.0, 0.13 * b * au["jaw_drop"] + 0.09 * b * mouth_open * (1.0 - 0.7 * press)
                             + 0.012 * b * pull + 0.08 * b * stretch)
        lift = 0.11 * b * snarl  # the raised upper lip bares the upper teeth
        thin = 1.0 - 0.6 * press - 0.3 * stretch
        chin = 0.03 * b * depress  # the chin raiser that goes with a depressed corner pushes the lower lip up
        top = my - idt.lip_upper * b * thin - 0.3 * opening - lift
        inner_top = my - 0.3 * opening - lift
        inner_bottom = my + 0.7 * opening
        bottom = inner_bottom + idt.lip_lower * b * thin - chin

        def col(v: np.ndarray) -> np.ndarray:
            return v[:, None]

        xs = _U * col(corner_x)
        upper_outer = _xy(xs, col(top) + col(corner_y - top) * np.abs(_U) ** 1.6 + 0.012 * b * _BOW)
        lower_outer = _xy(xs, col(bottom) + col(corner_y - bottom) * _U ** 2)
        out.append(self._stroke(np.concatenate([upper_outer, lower_outer[:, ::-1]], 1), "lips"))
        box = col(2.0 * stretch)  # stretched lips part in a wide, flat-sided opening
        upper_inner = _xy(xs * 0.96, col(inner_top) + col(corner_y - inner_top) * np.abs(_U) ** (1.3 + box))
        lower_inner = _xy(xs * 0.96, col(inner_bottom) + col(corner_y - inner_bottom) * np.abs(_U) ** (1.5 + box))
        gap = inner_bottom - inner_top
        parted = gap > 1.0
        out.append(self._stroke(np.concatenate([upper_inner, lower_inner[:, ::-1]], 1), "teeth", show=parted))
        teeth_edge = upper_inner + _xy(0.0, col(np.minimum(0.07 * b, 0.6 * gap)))
        lower_teeth = col(stretch * np.minimum(0.05 * b, 0.35 * gap))  # a stretched mouth bares both rows
        floor = _xy(lower_inner[..., 0], np.maximum(lower_inner[..., 1] - lower_teeth, teeth_edge[..., 1]))
        out.append(self._stroke(np.concatenate([teeth_edge, floor[:, ::-1]], 1), "mouth", show=parted))
        out.append(self._stroke(upper_inner, "lip_line", 1.0))
        return out

    def _raster(self, img: np.ndarray, strokes: list[_Stroke], eyes: list[_Eye], i: int) -> None:
        """Draw frame ``i`` of the planned moving parts onto the sprite copy ``img``."""
        sh, aa = self._SHIFT, cv2.LINE_AA
        for stroke in strokes:
            points, color, thick, show = stroke.at(i)
            if not show:
                continue
            if thick:
                cv2.polylines(img, [points], False, self.palette[color], thick, aa, sh)
            else:
                cv2.fillPoly(img, [points], self.palette[color], aa, sh)
        r_iris, r_pupil, r_glint = self._iris_radii
        for e in eyes:
            if not e.show[i]:
                continue
            x0, y0, x1, y1 = e.box[i]
            roi = img[y0:y1, x0:x1]
            patch = np.empty_like(roi)
            patch[:] = self._sclera
            iris, glint = tuple(int(v) for v in e.iris[i]), tuple(int(v) for v in e.glint[i])
            cv2.circle(patch, iris, r_iris, self._iris, -1, aa, sh)
            cv2.circle(patch, iris, r_pupil, _PUPIL, -1, aa, sh)
            cv2.circle(patch, glint, r_glint, _GLINT, -1, aa, sh)
            mask = np.zeros(roi.shape[:2], np.uint8)
            cv2.fillPoly(mask, [e.opening[i]], 255, aa, sh)
            # OpenCV's stubs have no overload of cv2.compare for a scalar src2 (here and in frames())
            cv2.copyTo(patch, cv2.compare(mask, 127, cv2.CMP_GT), roi)  # type: ignore[call-overload]

    def _placements(self, track: FaceTrack) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per frame: the affine map of the sprite into the frame region it covers ``[T, 2, 3]``, that
        region ``[T, 4]`` (x0, y0, x1, y1), and the ground-truth face box ``[T, 4]``."""
        dx, dy, roll, zoom = track.pose.T
        centre = np.stack([self.center[0] + dx * self.k, self.center[1] + dy * self.k], 1)
        t = np.deg2rad(roll)
        c, s = zoom * np.cos(t), zoom * np.sin(t)
        ox, oy = self.origin
        m = np.zeros((len(t), 2, 3))  # as cv2.getRotationMatrix2D about the origin, then moved to the centre
        m[:, 0] = np.stack([c, s, centre[:, 0] - c * ox - s * oy], 1)
        m[:, 1] = np.stack([-s, c, centre[:, 1] + s * ox - c * oy], 1)
        sw, sh = self.sprite_size
        corners = np.array([[0, 0, 1], [sw, 0, 1], [0, sh, 1], [sw, sh, 1]], dtype=np.float64)
        placed = corners @ m.transpose(0, 2, 1)  # [T, 4, 2]
        low = np.maximum(np.floor(placed.min(axis=1)), 0).astype(int)
        high = np.minimum(np.ceil(placed.max(axis=1)), (self.width, self.height)).astype(int)
        m[:, :, 2] -= low
        return m, np.concatenate([low, high], 1), face_box(self.id, centre, self.k, roll, zoom)

    def frames(self, track: FaceTrack) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The clip's frames as RGB uint8 ``[H, W, 3]``, each with its ground-truth face box."""
        strokes, eyes = self._plan(track)
        maps, regions, boxes = self._placements(track)
        for i in range(len(track.aus)):
            sprite = self.sprite.copy()
            self._raster(sprite, strokes, eyes, i)
            frame = self.background.copy()
            x0, y0, x1, y1 = regions[i]
            if x1 > x0 and y1 > y0:  # paste the head where the warped sprite is opaque
                warped = cv2.warpAffine(sprite, maps[i], (int(x1 - x0), int(y1 - y0)), flags=cv2.INTER_LINEAR,
                                        borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0, 0))
                region = frame[y0:y1, x0:x1]
                cv2.copyTo(cv2.cvtColor(warped, cv2.COLOR_RGBA2RGB),
                           cv2.compare(warped[..., 3], 127, cv2.CMP_GT),  # type: ignore[call-overload]  # scalar src2
                           region)
                region[:] = cv2.GaussianBlur(region, (3, 3), 0)  # camera optics (the rest is blurred already)
            sx, sy = self.noise_shifts[i % len(self.noise_shifts)]
            noise = self.noise[sy:sy + self.height, sx:sx + self.width]
            yield cv2.addWeighted(frame, float(track.light[i]), noise, 1.0, -128.0), boxes[i]
