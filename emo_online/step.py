"""One online step of the encoders as a single forward pass, run by torch or by ONNX Runtime.

:class:`StepModel` chains what a step needs (audio encoder, visual encoder, fusion network, one
step of each modality's temporal model, and the store's front-end features) into one module.
:func:`step_runner` wraps it for a runtime:

- ``"torch"`` (the default) calls the module;
- ``"onnx"`` exports it once to an ONNX graph (in memory, with torch's exporter) and runs that in
  ONNX Runtime, which costs a fraction of torch's per-call overhead on such small models. It needs
  the ``onnx`` extra: ``pip install -e .[onnx]``.

Both give the same numbers up to float rounding (differences around 1e-6, far below the float16
rounding of the feature store).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Literal, cast, get_args

import numpy as np
import torch
from torch import nn

from emo_env.data.store import MODALITIES
from pretrained_encoders.encoders import Encoders
from pretrained_encoders.models.frontends import FaceFrontEnd, FrontEndEncoder, voice_frontend, with_face_prior

__all__ = ["RUNTIMES", "Runtime", "StepModel", "StepRunner", "TorchStep", "OnnxStep", "step_runner"]

Runtime = Literal["torch", "onnx"]
RUNTIMES: tuple[str, ...] = get_args(Runtime)
INPUTS = ("mel", "face", "h", "c", "evidence", "index")
OUTPUTS = ("probs", "probs_audio", "probs_visual", "h", "c", "evidence", "voice", "face", "novelty")
STATES = ("h", "c", "evidence")  # what a step passes to the next


class StepModel(nn.Module):
    """The encoders of one online step in one forward.

    ``forward(mel float16 [1, F, M], face uint8 [1, S, S, 3], h, c [3, 1, H], evidence [3, 1, K], index float
    scalar)`` -> ``(probs [1, K], probs_audio [1, K], probs_visual [1, K], h, c, evidence, voice [1, 38],
    face [1, 135], novelty [1, 2])``: the calibrated probabilities of the temporal model of the default modality, of
    the voice's and of the face's after this step, the new states of the three temporal models (audio, visual,
    fusion, stacked: LSTM states and summed log-priors), the store's front-end features of the step (voice
    descriptors, face network features) and their novelty
    (:class:`~pretrained_encoders.models.familiarity.Familiarity`, voice then face). An encoder that sits on the
    same front end reuses its features; the face's temporal model with the face prior (spec ``face_prior``) also
    gets the face network's reading of the classes.
    """

    def __init__(self, encoders: Encoders) -> None:
        super().__init__()
        self.modality = encoders.modality
        self.audio, self.visual, self.fusion = encoders.audio, encoders.visual, encoders.fusion
        self.familiarity = encoders.familiarity
        self.temporals = [encoders.temporals[m] for m in MODALITIES]
        for m, temporal in zip(MODALITIES, self.temporals, strict=True):
            self.add_module(f"temporal_{m}", temporal)
        spec = encoders.spec
        device = next(encoders.fusion.parameters()).device
        self.voice = _shared(encoders.audio, voice_frontend(int(spec["mel_bands"]), spec["data"]).to(device))
        self.face = _shared(encoders.visual, FaceFrontEnd().to(device))
        self.audio_on_voice = self.voice is getattr(encoders.audio, "frontend", None)
        self.visual_on_face = self.face is getattr(encoders.visual, "frontend", None)
        self.face_prior = [int(i) for i in spec["face_prior"]] if encoders.temporals["visual"].prior else None

    def forward(self, mel: torch.Tensor, face: torch.Tensor, h: torch.Tensor, c: torch.Tensor, evidence: torch.Tensor,
                index: torch.Tensor) -> tuple[torch.Tensor, ...]:
        voice, seen = self.voice(mel), self.face(face)
        audio = cast(FrontEndEncoder, self.audio).top(voice)[0] if self.audio_on_voice else self.audio(mel)[0]
        visual = cast(FrontEndEncoder, self.visual).top(seen)[0] if self.visual_on_face else self.visual(face)[0]
        embeddings: dict[str, torch.Tensor] = {
            "audio": audio, "fusion": self.fusion(audio, visual)[0],
            "visual": visual if self.face_prior is None else with_face_prior(visual, seen, self.face_prior)}
        probs: dict[str, torch.Tensor] = {}
        states: list[tuple[torch.Tensor, ...]] = []
        for i, (m, temporal) in enumerate(zip(MODALITIES, self.temporals, strict=True)):
            probs[m], _, *state = temporal.advance(embeddings[m], h[i : i + 1], c[i : i + 1], evidence[i], index)
            states.append(tuple(state))
        h, c, evidence = (torch.cat(parts) for parts in zip(*states, strict=True))
        novelty = torch.stack([self.familiarity.novelty("voice", voice), self.familiarity.novelty("face", seen)], -1)
        return (probs[self.modality], probs["audio"], probs["visual"], h, c, evidence.unsqueeze(1), voice.float(),
                seen.float(), novelty)


def _shared(encoder: nn.Module, frontend: nn.Module) -> nn.Module:
    """``encoder``'s own front end when it computes the same as ``frontend`` (same class and tensors), else
    ``frontend``."""
    own = getattr(encoder, "frontend", None)
    if type(own) is not type(frontend):
        return frontend
    mine, theirs = dict(own.named_buffers()) | dict(own.named_parameters()), (
        dict(frontend.named_buffers()) | dict(frontend.named_parameters()))
    same = mine.keys() == theirs.keys() and all(torch.equal(mine[k], theirs[k].to(mine[k].device)) for k in mine)
    return own if same else frontend


class StepRunner(ABC):
    """Runs :class:`StepModel` one step at a time and carries the temporal states between steps.

    ``runner(mel, face)`` takes the step's log-mel window ``[F, M]`` and face crop ``uint8 [S, S, 3]``
    and returns float32 arrays ``probs``, ``probs_audio``, ``probs_visual`` ``[K]``, ``voice`` and ``face``
    (the front-end features) and ``novelty`` ``[2]`` (theirs); :meth:`reset` starts a new sequence.
    """

    def __init__(self, model: StepModel) -> None:
        self.model = model.eval()
        self.hidden_size = int(model.temporals[0].lstm.hidden_size)
        self.num_classes = int(model.temporals[0].head.out_features)
        self.reset()

    def reset(self) -> None:
        """Start a new sequence (zero states, step index 0)."""
        self._index = 0
        lstm = np.zeros((len(MODALITIES), 1, self.hidden_size), np.float32)
        self._states = {"h": lstm, "c": lstm, "evidence": np.zeros((len(MODALITIES), 1, self.num_classes), np.float32)}

    def __call__(self, mel: np.ndarray, face: np.ndarray) -> dict[str, np.ndarray]:
        inputs: dict[str, np.ndarray] = {
            "mel": np.ascontiguousarray(mel, np.float16)[None], "face": np.ascontiguousarray(face, np.uint8)[None],
            **self._states, "index": np.array(self._index, np.float32)}
        outputs = dict(zip(OUTPUTS, self._run(inputs), strict=True))
        self._states = {name: outputs.pop(name) for name in STATES}
        self._index += 1
        return {name: output[0] for name, output in outputs.items()}

    @abstractmethod
    def _run(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        """The model's outputs (:data:`OUTPUTS` in order) for ``inputs`` (named as the model's arguments)."""


class TorchStep(StepRunner):
    """:class:`StepModel` called in torch, on the device its parameters are on."""

    def __init__(self, model: StepModel) -> None:
        super().__init__(model)
        self.device = next(model.parameters()).device

    @torch.inference_mode()
    def _run(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        outputs = self.model(*(torch.from_numpy(inputs[name]).to(self.device) for name in INPUTS))
        return [output.float().cpu().numpy() for output in outputs]


class OnnxStep(StepRunner):
    """:class:`StepModel` exported to ONNX and run in ONNX Runtime (CUDA when the model is on a GPU and
    the installed ONNX Runtime has it, else the CPU, with torch's thread count)."""

    def __init__(self, model: StepModel, mel_shape: tuple[int, int], face_size: int) -> None:
        missing = [name for name in ("onnxruntime", "onnxscript") if importlib.util.find_spec(name) is None]
        if missing:
            raise ImportError(f"runtime 'onnx' needs {' and '.join(missing)}, which is not installed: "
                              "pip install 'emo-env[onnx]', or use runtime 'torch'")
        import onnxruntime as ort

        super().__init__(model)
        device = next(model.parameters()).device
        example = (torch.zeros((1, *mel_shape), dtype=torch.float16, device=device),
                   torch.zeros((1, face_size, face_size, 3), dtype=torch.uint8, device=device),
                   torch.zeros((len(MODALITIES), 1, self.hidden_size), device=device),
                   torch.zeros((len(MODALITIES), 1, self.hidden_size), device=device),
                   torch.zeros((len(MODALITIES), 1, self.num_classes), device=device), torch.tensor(0.0, device=device))
        with _quiet_export():
            program = torch.onnx.export(self.model, example, input_names=list(INPUTS),
                                        output_names=[f"{name}_out" for name in OUTPUTS], dynamo=True, verbose=False)
        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = torch.get_num_threads()
        providers = ["CPUExecutionProvider"]
        if device.type == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        assert program is not None  # export without a file returns the program
        self.session = ort.InferenceSession(program.model_proto.SerializeToString(), options, providers=providers)
        self._inputs = [node.name for node in self.session.get_inputs()]  # the exporter drops unused inputs

    def _run(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        return list(self.session.run(None, {name: inputs[name] for name in self._inputs}))


@contextlib.contextmanager
def _quiet_export() -> Iterator[None]:
    """Silence the exporter's progress lines and its notes on what this model does not use."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="The tensor attributes .* were assigned during export")
            yield
    finally:
        logger.setLevel(level)


def step_runner(encoders: Encoders, runtime: str = "torch") -> StepRunner:
    """A :class:`StepRunner` of ``encoders`` in ``runtime`` (one of :data:`RUNTIMES`)."""
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {RUNTIMES}, got {runtime!r}")
    model = StepModel(encoders)
    if runtime == "torch":
        return TorchStep(model)
    spec = encoders.spec
    return OnnxStep(model, (int(spec["mel_frames"]), int(spec["mel_bands"])), int(spec["face_size"]))
