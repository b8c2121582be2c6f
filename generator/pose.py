"""Head pose from 68 landmarks and a generic 3D face, and re-projection after a rotation.

The 3D mean shape comes from insightface (``data/meanshape_68.json``, MIT). Fitting it with
``cv2.solvePnP`` gives the head's rotation and distance; each landmark then gets the model's depth
and is back-projected through its detected pixel, so that re-projecting without a rotation
returns the detected landmarks exactly, and a rotation moves them as a 3D head would.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

import cv2
import numpy as np

# The mean shape spans about 1.25 units across the face; a real face is about 14 cm across.
_MODEL_CM_PER_UNIT = 11.0


@cache
def mean_shape() -> np.ndarray:
    text = resources.files(__package__).joinpath("data/meanshape_68.json").read_text()
    return np.asarray(json.loads(text)["points"], dtype=np.float64)


def camera(width: int, height: int) -> np.ndarray:
    """A pinhole camera with a normal lens (focal length about the image's larger side)."""
    focal = float(max(width, height))
    return np.array([[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1]], dtype=np.float64)


@dataclass(frozen=True, slots=True)
class HeadModel:
    """The landmarks in camera space (cm), and the point the head turns about."""

    points: np.ndarray  # (68, 3)
    pivot: np.ndarray  # (3,)
    rotation: np.ndarray  # (3,) Rodrigues vector of the fitted head
    camera: np.ndarray  # (3, 3)

    def depth_at(self, xy: np.ndarray, spread: float = 1.0) -> np.ndarray:
        """Camera-space points for extra 2D vertices: the depth of the nearest landmarks,
        pushed back as they leave the face (``spread`` scales how fast)."""
        projected = self.project(self.points)
        centre = projected.mean(0)
        radius = np.linalg.norm(projected - centre, axis=1).max()
        depth = np.empty(len(xy))
        for i, p in enumerate(xy):
            d = np.linalg.norm(projected - p, axis=1)
            nearest = np.argsort(d)[:3]
            w = 1.0 / (d[nearest] + 1e-6)
            base = float((self.points[nearest, 2] * w).sum() / w.sum())
            outside = max(0.0, float(np.linalg.norm(p - centre)) / radius - 0.8)
            depth[i] = base + spread * outside * 4.0  # cm further back
        return self.unproject(xy, depth)

    def unproject(self, xy: np.ndarray, depth: np.ndarray) -> np.ndarray:
        ones = np.ones((len(xy), 1))
        rays = np.hstack([xy, ones]) @ np.linalg.inv(self.camera).T
        return rays * depth[:, None]

    def project(self, points: np.ndarray) -> np.ndarray:
        p = points @ self.camera.T
        return p[:, :2] / p[:, 2:3]

    def turn(self, points: np.ndarray, yaw: float, pitch: float, roll: float) -> np.ndarray:
        """Rotate camera-space points about the pivot; positive yaw turns the face towards the
        viewer's right, positive pitch lowers the chin, positive roll tilts towards the
        viewer's right shoulder."""
        return self.turn_each(points, np.asarray(yaw), np.asarray(pitch), np.asarray(roll))

    def turn_each(
        self, points: np.ndarray, yaw: np.ndarray, pitch: np.ndarray, roll: np.ndarray
    ) -> np.ndarray:
        """:meth:`turn` with angles of each point's own (arrays as long as ``points``, or
        scalars): yaw, then pitch, then roll, as ``rotation_matrix`` composes them."""
        x, y, z = (points - self.pivot).T
        cy, sy = np.cos(yaw), np.sin(yaw)
        x, z = cy * x - sy * z, sy * x + cy * z
        cp, sp = np.cos(pitch), np.sin(pitch)
        y, z = cp * y - sp * z, sp * y + cp * z
        cr, sr = np.cos(roll), np.sin(roll)
        x, y = cr * x - sr * y, sr * x + cr * y
        return np.stack([x, y, z], axis=1) + self.pivot


def facing_yaw(head: HeadModel) -> float:
    """How far the fitted head faces to the viewer's right (radians, the sign of ``turn``)."""
    rotation, _ = cv2.Rodrigues(head.rotation)
    # The mean shape looks along -z of its own frame (towards the camera once fitted).
    forward = rotation @ np.array([0.0, 0.0, -1.0])
    return float(np.arctan2(forward[0], -forward[2]))


def rotation_matrix(yaw: float, pitch: float, roll: float) -> np.ndarray:
    # Camera axes: x right, y down, z away from the camera into the scene.
    cy, sy = np.cos(yaw), np.sin(yaw)
    cp, sp = np.cos(pitch), np.sin(pitch)
    cr, sr = np.cos(roll), np.sin(roll)
    about_y = np.array([[cy, 0, -sy], [0, 1, 0], [sy, 0, cy]])
    about_x = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    about_z = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    return about_z @ about_x @ about_y


def fit_head(landmarks: np.ndarray, width: int, height: int) -> HeadModel:
    """Fit the mean shape to 2D landmarks and lift the landmarks into camera space."""
    model = mean_shape() * _MODEL_CM_PER_UNIT
    model = model * np.array([1.0, 1.0, -1.0])  # the file's z points at the camera; ours away
    cam = camera(width, height)
    ok, rvec, tvec = cv2.solvePnP(
        model, landmarks.astype(np.float64), cam, None, flags=cv2.SOLVEPNP_ITERATIVE
    )
    if not ok:  # pragma: no cover - solvePnP with 68 points does not fail in practice
        raise ValueError("head pose fitting failed")
    rotation, _ = cv2.Rodrigues(rvec)
    in_camera = model @ rotation.T + tvec.reshape(1, 3)
    depth = in_camera[:, 2]
    head = HeadModel(points=np.zeros((68, 3)), pivot=np.zeros(3), rotation=rvec.ravel(), camera=cam)
    points = head.unproject(landmarks, depth)
    # Heads turn about the top of the neck: behind and below the middle of the face.
    pivot = in_camera.mean(0) + rotation @ np.array([0.0, 3.0, 6.0])
    return HeadModel(points=points, pivot=pivot, rotation=rvec.ravel(), camera=cam)
