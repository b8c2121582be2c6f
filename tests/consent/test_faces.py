"""Face matching: dlib's distances on known faces, and the ArcFace ONNX loader on a tiny model
the test builds itself."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from lpm_guard.consent import faces
from lpm_guard.consent.errors import FaceModelError, MultipleFaces, NoFace, UnreadableImage
from lpm_guard.consent.services import ConsentService
from lpm_guard.consent.settings import ConsentSettings
from lpm_guard.runtime import Runtime

from .conftest import People, camera_still, jpeg, png


def tiny_arcface(path: Path, size: int = 112, dim: int = 16, seed: int = 0) -> np.ndarray:
    """An "ArcFace" of one matrix: Flatten([N,3,size,size]) @ W -> [N, dim]."""
    weight = np.random.default_rng(seed).standard_normal((3 * size * size, dim)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Flatten", ["input.1"], ["flat"], axis=1),
            helper.make_node("MatMul", ["flat", "W"], ["embedding"]),
        ],
        "tiny-arcface",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, ["N", 3, size, size])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["N", dim])],
        initializer=[numpy_helper.from_array(weight, "W")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return weight


def test_dlib_distances_separate_people_and_survive_recompression(people: People) -> None:
    encoder = faces.DlibEncoder()
    samples = [faces.one_face(photo, encoder) for photo in people.t1]
    for i, a in enumerate(samples):
        for b in samples[:i]:
            assert encoder.distance(a.descriptor, b.descriptor) > encoder.match_threshold
    original = samples[0].descriptor
    still = faces.one_face(faces.decode_image(camera_still(people.t1[0])), encoder)
    assert encoder.distance(original, still.descriptor) < 0.25


def test_arcface_loader_runs_the_standard_crop_through_the_model(
    tmp_path: Path, people: People
) -> None:
    weight = tiny_arcface(tmp_path / "arcface.onnx")
    encoder = faces.encoder_for(tmp_path / "arcface.onnx")
    assert isinstance(encoder, faces.ArcFaceEncoder) and encoder.name.startswith("arcface-")
    image = people.astronaut
    face = faces.one_face(image, encoder).face
    # The embedding is exactly the model applied to the aligned, normalised 112×112 crop.
    crop = faces.align_arcface(image, face)
    assert crop.shape == (112, 112, 3)
    blob = ((crop.astype(np.float32) - 127.5) / 127.5).transpose(2, 0, 1).reshape(-1)
    expected = blob @ weight
    expected = expected / np.linalg.norm(expected)
    assert np.allclose(encoder.encode(image, face), expected, atol=1e-5)
    # The crop is upright and centred: the eyes land on the template's eye row.
    eyes = faces.five_points(face)[:2]
    matrix = np.linalg.lstsq(
        np.c_[faces.five_points(face), np.ones(5)], faces.ARCFACE_TEMPLATE, rcond=None
    )[0]
    assert np.allclose((np.c_[eyes, np.ones(2)] @ matrix)[:, 1], 51.6, atol=4)


def test_arcface_loader_refuses_what_it_cannot_use(tmp_path: Path) -> None:
    with pytest.raises(FaceModelError, match="no face model"):
        faces.ArcFaceEncoder(tmp_path / "missing.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(FaceModelError, match="cannot load"):
        faces.ArcFaceEncoder(tmp_path / "junk.onnx")
    tiny_arcface(tmp_path / "small.onnx", size=64)
    with pytest.raises(FaceModelError, match=r"not \[N, 3, 112, 112\]"):
        faces.ArcFaceEncoder(tmp_path / "small.onnx")


def test_the_service_uses_an_installed_model(
    tmp_path: Path, runtime: Runtime, people: People
) -> None:
    tiny_arcface(tmp_path / "arcface.onnx")
    service = ConsentService(runtime, ConsentSettings(face_model=tmp_path / "arcface.onnx"))
    assert service.encoder.name.startswith("arcface-")
    assert isinstance(ConsentService(runtime, ConsentSettings()).encoder, faces.DlibEncoder)


def test_decoding_and_face_counting(people: People) -> None:
    assert faces.decode_image(jpeg(people.astronaut)).shape == (512, 512, 3)
    assert np.array_equal(faces.decode_image(png(people.astronaut)), people.astronaut)
    with pytest.raises(UnreadableImage):
        faces.decode_image(b"GIF89a" + b"\0" * 100)
    with pytest.raises(MultipleFaces):
        faces.one_face(people.group, faces.DlibEncoder())
    with pytest.raises(NoFace):
        faces.one_face(np.full((200, 200, 3), 128, np.uint8), faces.DlibEncoder())
    assert faces.shrink(np.zeros((4000, 2000, 3), np.uint8)).shape == (1600, 800, 3)


# Threads finding faces in pictures of different sizes at once, and taking descriptors: with one
# dlib detector shared by every thread this died of a segmentation fault (or "double free or
# corruption": SIGABRT) within seconds; a server checking two consents at once went down with it.
RACE = """
import sys, threading
import cv2, numpy as np
from importlib import import_module
from skimage import data
faces = import_module(sys.argv[1])
base = data.astronaut()
pictures = [np.ascontiguousarray(cv2.resize(base, (s, s))) for s in (150, 200, 260, 330, 400)]
expected = [len(faces.detect_faces(p)) for p in pictures]
wrong = []
def work(k):
    for i in range(16):
        p = (i + k) % len(pictures)
        found = faces.detect_faces(pictures[p])
        if len(found) != expected[p]:
            wrong.append(p)
        if found and i % 4 == 0:
            faces.descriptor(pictures[p], found[0])
threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
for t in threads: t.start()
for t in threads: t.join()
print("wrong", len(wrong))
"""


@pytest.mark.parametrize("module", ["lpm_guard.consent.landmarks", "lpm_guard.generator.faces"])
def test_threads_finding_faces_at_once_do_not_bring_the_process_down(module: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", RACE, module], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert done.stdout.split() == ["wrong", "0"]
