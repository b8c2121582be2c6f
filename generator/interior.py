"""The inside of an open mouth, painted for a photo that does not show one: a shaded cavity,
upper teeth one by one under a gum line, the tips of the lower teeth and a tongue, lit and
coloured like the photo, softened and grained like it.

Everything is laid out in the mouth's own coordinates, measured from the inner lips of each
frame: ``u`` across the mouth (-1 at one inner corner, 1 at the other), the distance below the
upper inner lip (the upper teeth hang from it) and above the lower inner lip (tongue and lower
teeth ride on the jaw). Written by hand: no library paints a mouth interior.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# Reference colours under neutral light, for a skin of _SKIN: the photo's skin tone scales
# them, so a warm, cool or grey photo gets teeth and a tongue in its own light.
_SKIN = np.array([200.0, 152.0, 128.0], np.float32)
_TEETH = np.array([236.0, 230.0, 214.0], np.float32)
_GUM = np.array([196.0, 110.0, 112.0], np.float32)
_TONGUE = np.array([188.0, 96.0, 100.0], np.float32)
_CAVITY = np.array([92.0, 32.0, 36.0], np.float32)

# Upper teeth from the midline outwards, along the dental arch (mm): central incisor, lateral
# incisor, canine, two premolars; how far each shows below the upper lip when speaking (mm).
_TOOTH_EDGES_MM = np.array([0.0, 8.6, 15.2, 22.8, 29.8, 36.6])
_TOOTH_LENGTH_MM = np.array([6.0, 5.0, 5.5, 4.5, 4.0])
_ARCH_RADIUS_MM = 24.0  # the front of the arch, seen from the front, curves away like this
_INTEROCULAR_MM = 63.0
TEETH_FOLLOW_LIP = 0.9  # how far the teeth round the arch hang from the lip dropping to a corner
TEETH_CORNER_SHADE = 0.25  # how much darker the teeth are at the opening's corners
TEETH_DROP = 0.07  # eye distances: the most the teeth round the arch hang lower than the front
LOWER_ARCH = 0.7  # how far the lower teeth turn from the light, of the upper teeth's turn
TEETH_REACH = 0.85  # how far towards a wide opening's corners the upper teeth reach at least


@dataclass(frozen=True, slots=True)
class Palette:
    """The photo's light, colour and texture, measured once."""

    saturation: float  # the photo's skin saturation against _SKIN's (0: a grey photo)
    light: float  # the photo's skin brightness against _SKIN's
    balance: np.ndarray  # per channel: the photo's colour cast (1, 1, 1 for none)
    sharpness: float  # Gaussian sigma (px) that the painted interior is softened by
    grain: float  # the photo's pixel noise (standard deviation, 0..255)

    @classmethod
    def of(cls, canvas: np.ndarray, landmarks: np.ndarray, zoom: float) -> Palette:
        mask = np.zeros(canvas.shape[:2], np.uint8)
        cv2.fillPoly(mask, [np.round(landmarks[[*range(3, 14), 35, 33, 31]]).astype(np.int32)], 1)
        cv2.fillPoly(mask, [np.round(landmarks[48:60]).astype(np.int32)], 0)
        skin = canvas[mask.astype(bool)].astype(np.float32)
        mean = skin.mean(0) if len(skin) else _SKIN
        saturation = float(np.clip(_saturation(mean) / _saturation(_SKIN), 0.0, 1.0))
        light = float(mean.mean()) / float(_SKIN.mean())
        # The cast: the skin's hue against a typical skin's, as far as the photo has colour.
        cast = (mean / max(float(mean.mean()), 1.0)) / (_SKIN / float(_SKIN.mean()))
        balance = np.clip(1.0 + (cast - 1.0) * saturation, 0.7, 1.3).astype(np.float32)
        # Grain: what a 3x3 median takes out of the skin's grey level.
        grey = cv2.cvtColor(canvas, cv2.COLOR_RGB2GRAY)
        residual = grey.astype(np.float32) - cv2.medianBlur(grey, 3).astype(np.float32)
        grain = float(np.std(residual[mask.astype(bool)])) if mask.any() else 1.0
        # An upscaled photo is as soft as its enlargement; a sharp one still anti-aliases.
        sharpness = float(np.clip(0.45 * zoom, 0.5, 2.5))
        return cls(
            saturation,
            float(np.clip(light, 0.4, 1.3)),
            balance,
            sharpness,
            float(np.clip(grain, 0.5, 6.0)),
        )

    def colour(self, reference: np.ndarray) -> np.ndarray:
        """A reference colour as this photo would show it: as saturated as its skin is
        against _SKIN, and lit as brightly (teeth stay whiter than skin: half the change)."""
        grey = float(reference.mean())
        tinted = (grey + (reference - grey) * self.saturation) * self.balance
        return np.clip(tinted * np.sqrt(self.light), 0, 255).astype(np.float32)


def _saturation(rgb: np.ndarray) -> float:
    return float((rgb.max() - rgb.min()) / max(float(rgb.max()), 1.0))


class Interior:
    """Paints the mouth interior of one character into a window of a frame."""

    def __init__(self, palette: Palette, interocular: float, across: np.ndarray) -> None:
        self.io = interocular
        self.across = across
        self.down = np.array([-across[1], across[0]])
        self.teeth = palette.colour(_TEETH) * 0.92
        self.gum = palette.colour(_GUM)
        self.tongue = palette.colour(_TONGUE)
        self.cavity = palette.colour(_CAVITY)
        self.sharpness = palette.sharpness
        self.grain = palette.grain
        # A fixed grain pattern (the same every frame: grain that boils reads as video noise).
        self._noise = np.random.default_rng(7).standard_normal((256, 256)).astype(np.float32)
        rough = np.random.default_rng(11).standard_normal((256, 256)).astype(np.float32)
        smooth = cv2.GaussianBlur(rough, (0, 0), max(1.0, 0.05 * interocular))
        self._blotches = smooth / max(float(smooth.std()), 1e-6)
        mm = interocular / _INTEROCULAR_MM
        arc = _TOOTH_EDGES_MM / _ARCH_RADIUS_MM
        self.edges_px = (_ARCH_RADIUS_MM * np.sin(arc) * mm).astype(
            np.float32
        )  # seen from the front
        # (Only their widths turn with the arch: a tooth's height faces the camera all the
        # way round. Foreshortened as well, the premolars showed 1-2 px under the lip, and a
        # painted mouth had three or four teeth.)
        self.lengths_px = (_TOOTH_LENGTH_MM * mm).astype(np.float32)

    def paint(
        self,
        upper: np.ndarray,
        lower: np.ndarray,
        origin: tuple[int, int],
        shape: tuple[int, int],
        upper_teeth: bool = True,
        lower_teeth: bool = True,
        floor: float | None = None,
        tongue: bool = True,
        teeth_colour: np.ndarray | None = None,
    ) -> np.ndarray:
        """The interior (float RGB, ``shape``) for inner lips ``upper`` and ``lower``, each
        from corner to corner (60, 61, 62, 63, 64 and 60, 67, 66, 65, 64, or the curves of
        :func:`.lips.open_outline`) in canvas pixels; ``origin`` is the window's top
        left. ``upper_teeth=False`` paints only what lies behind a photo's own upper teeth;
        ``floor`` is then where the jaw's teeth and tongue rest (along the mouth's vertical,
        canvas pixels), when not on the lower lip; ``teeth_colour``, the photo's own teeth's,
        colours the painted ones; ``lower_teeth=False, tongue=False`` leave them to a photo
        that shows its own."""
        h, w = shape
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        xs += origin[0]
        ys += origin[1]
        a, d = self.across, self.down
        # (float32 throughout: this runs on every frame with an open mouth)
        along = xs * np.float32(a[0]) + ys * np.float32(a[1])
        depth = xs * np.float32(d[0]) + ys * np.float32(d[1])
        ua, ud = upper @ a, upper @ d
        la, ld = lower @ a, lower @ d
        left, right = float(ua[0]), float(ua[-1])
        mid = 0.5 * (left + right)
        half = max(0.5 * (right - left), 1.0)
        top = np.interp(along, np.maximum.accumulate(ua), ud).astype(np.float32)
        below_top = depth - top  # px under the upper lip
        u = np.clip(np.abs(along - mid) / half, 0.0, 1.0)
        x_px = np.abs(along - mid)  # from the midline
        io = self.io

        # The teeth and the tongue hang from the jaws, not from the lips: the upper ones from
        # the middle of the upper lip (the head), the lower ones and the tongue from the
        # middle of the lower lip (the jaw). The lips hide whatever lies outside the opening.
        upper_mid = float(np.interp(mid, np.maximum.accumulate(ua), ud))
        lower_mid = float(np.interp(mid, np.maximum.accumulate(la), ld)) if floor is None else floor
        arch = float(self.edges_px[-1])
        side = np.clip(x_px / arch, 0.0, 1.5)
        mid_opening = max(lower_mid - upper_mid, 1.0)
        # Broad, soft unevenness (the palate, the cheeks' folds, the tongue's surface): a flat
        # fill read as painted. Fixed per character, like the grain.
        mottle = self._mottle(h, w)

        # (1) The cavity, lit from above through the opening: the roof of the mouth and the
        # back of the throat (the top and the middle of the opening) lie in deep shadow, the
        # floor of the mouth in front of the tongue catches some light, and the cheeks at the
        # corners are dark. No even rim round the opening (that outlined it like a drawing),
        # no thin dark line under the upper teeth: the shadow under them is broad.
        v = np.clip((depth - upper_mid) / mid_opening, 0.0, 1.0)
        shade = 0.35 + 0.55 * v * v
        shade *= 1.0 - 0.6 * u * u
        shade *= 1.0 - 0.25 * np.exp(-np.maximum(below_top, 0.0) / (0.1 * io))
        paint = self.cavity[None, None, :] * (shade * (1.0 + 0.12 * mottle))[..., None]

        # (2) The tongue: a rounded mound on the floor of the mouth. Its top edge is the back
        # of the tongue against the throat: soft, and in shadow; its front (lower in the
        # picture, behind the lower teeth) is lit. A shallow groove runs down its middle and
        # it darkens towards its sides.
        if tongue:
            rise = min(0.55 * mid_opening, 0.2 * io)
            round_off = np.clip(side / 1.1, 0.0, 1.0)
            round_off *= round_off
            into = depth - (lower_mid - rise * (1.0 - round_off))
            mound = np.clip(into / (0.06 * io) + 0.35, 0.0, 1.0)
            mound *= np.sqrt(mound)
            lit = 0.5 + 0.55 * np.sqrt(np.clip(into / (0.12 * io), 0.0, 1.0))
            groove = np.exp(-np.square(x_px / (0.03 * io))) * np.clip(into / (0.05 * io), 0, 1)
            lit *= (1.0 - 0.35 * round_off) * (1.0 - 0.12 * groove) * (1.0 + 0.1 * mottle)
            t = (mound * (1.0 - 0.4 * np.clip(side, 0.0, 1.0)))[..., None]
            paint = paint * (1 - t) + (self.tongue * lit[..., None] * 0.85) * t

        if lower_teeth:
            # (3) Lower teeth: their top part shows over the lower lip, in front of the tongue,
            # a band as the jaw drops (about 3.5 mm at a wide opening). They are narrower
            # than the upper ones, in the upper lip's shadow, their tips lit and translucent.
            showing = 0.06 * io * float(np.clip((mid_opening - 0.15 * io) / (0.3 * io), 0.1, 1.0))
            # Only the rows that reach the teeth's tips are worked on.
            first = int(np.argmax(depth.max(axis=1) >= lower_mid - showing - 1.0))
            rows = slice(first, h)
            x_low, s_low = x_px[rows], side[rows]
            under = depth[rows] - (lower_mid - showing + 0.035 * io * s_low * s_low)
            low = np.clip(under + 0.5, 0.0, 1.0) * np.clip((0.8 - s_low) / 0.15, 0.0, 1.0)
            low *= float(np.clip(mid_opening / (0.12 * io) - 0.3, 0.0, 1.0))
            down_tooth = np.clip(under / showing, 0.0, 1.0)
            # Lit at their tips, a little darker down towards the lip's shadow under them; lit
            # like the upper teeth, a shade less (at 0.78 and below, with the arch's turn and
            # the mouth's warm light, they read as a grey band: 0.49 of the teeth's lightness;
            # at 0.97 down to 0.79, less the gaps and the arch's full turn, the astronaut's were
            # still a grey band under her lit upper teeth, darker than her lips).
            light = 1.04 - 0.08 * down_tooth - 0.05 * np.clip(down_tooth - 0.6, 0.0, 0.4) / 0.4
            # A few soft gaps between the front teeth (no seam at every tooth, no grid: at
            # this size they read as a grille), fainter and narrower towards the sides, and
            # wider at the tips where the teeth's rounded corners part.
            width = (0.01 * io + 0.5) * (1.0 - 0.4 * np.clip(s_low, 0.0, 1.0))
            width *= 1.0 + 0.6 * (1.0 - down_tooth)
            gaps = np.zeros_like(x_low)
            for k, edge in enumerate(0.72 * self.edges_px[:2]):
                gaps = np.maximum(
                    gaps, (0.1 - 0.03 * k) * np.exp(-np.square((x_low - edge) / width))
                )
            light *= 1.0 - gaps
            # In the mouth's shade, teeth take on its warm light. The lower arch is narrower
            # than the upper: its teeth turn from the light less far out.
            paint[rows] = self._teeth_over(
                paint[rows], low, LOWER_ARCH * x_low, light, 0.05, teeth_colour
            )

        if upper_teeth:
            # (4) Upper teeth one by one; their edges rise along the smile line towards the
            # back; a gum line over them shows where the lip lifts above it; the lip casts a
            # soft shadow over their tops.
            near_lip = np.exp(-np.maximum(below_top, 0.0) / (0.06 * io))
            # An opening wider than the arch seen from the front shows the teeth round it
            # spread out to near its corners (the canines and premolars wider): the arch
            # ended at 0.55-0.6 of the way to a wide opening's corners, a dark gap beside it.
            canine = float(self.edges_px[2])
            spread = max(1.0, (TEETH_REACH * half - canine) / max(arch - canine, 1.0))
            x_teeth = np.where(x_px > canine, canine + (x_px - canine) / spread, x_px)
            side = np.clip(x_teeth / arch, 0.0, 1.5)
            tooth, length, seam, face = self._tooth_at(x_teeth)
            # The teeth hang from the middle of the upper lip, the ones round the arch from a
            # line that follows the lip down towards the corners: hung level, the canines and
            # premolars ended behind the lip as it dropped to the corners.
            follow = np.clip((side - 0.2) / 0.6, 0.0, 1.0)
            drop = TEETH_FOLLOW_LIP * follow * follow * (3 - 2 * follow) * (top - upper_mid)
            # No further than a tooth's length: following a wide opening's steep sides all the
            # way, they ran down them to the corners in a white band.
            hang = upper_mid + np.minimum(drop, TEETH_DROP * io)
            edge = hang + length - 0.015 * io * side**2
            gum_line = hang - 0.05 * io + 0.012 * io * seam  # the gum dips between teeth
            upper_tooth = np.clip((edge - depth) / 1.0 + 0.5, 0.0, 1.0) * tooth
            gum = np.clip((gum_line - depth) / 1.0 + 0.5, 0.0, 1.0) * (side < 1.0)
            g = gum[..., None] * 0.9
            paint = paint * (1 - g) + self.gum * (0.7 + 0.3 * near_lip[..., None]) * g
            upper_tooth *= 1.0 - gum
            shadow = 1.0 - 0.35 * np.exp(-np.maximum(below_top, 0.0) / (0.025 * io))
            # Each tooth's face is rounded (darker towards its sides) and its biting edge is
            # translucent (a little darker, the cavity showing through).
            rounded = 1.0 - 0.14 * (1.0 - np.clip(face, 0.0, 1.0))
            translucent = 1.0 - 0.18 * np.exp(-np.maximum(edge - depth, 0.0) / (0.012 * io))
            # Towards the corners the teeth recede into the cheeks' shade.
            recede = 1.0 - TEETH_CORNER_SHADE * u * u
            light = shadow * rounded * translucent * recede
            paint = self._teeth_over(paint, upper_tooth, x_teeth, light)
        # The photo's softness and grain.
        if self.sharpness > 0.3:
            paint = cv2.GaussianBlur(paint, (0, 0), self.sharpness)
        noise = np.resize(self._noise, (h, w)) if (h > 256 or w > 256) else self._noise[:h, :w]
        return paint + (noise * self.grain)[..., None]

    def _mottle(self, h: int, w: int) -> np.ndarray:
        """Smooth noise (about -1..1) at a tenth of the eye distance, fixed per character (the
        same every frame, whatever the window's size)."""
        if h > 256 or w > 256:
            out: np.ndarray = np.resize(self._blotches, (h, w))
            return out
        return self._blotches[:h, :w]

    def _tooth_at(self, x_px: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """For each pixel's distance from the midline: how much it lies on a tooth (0 in the
        dark seams between teeth), the tooth's visible length, 0..1 how near a seam, and 0..1
        how near the middle of its tooth's face (1 there, 0 at its sides)."""
        edges = self.edges_px
        k = np.clip(np.searchsorted(edges, x_px) - 1, 0, len(edges) - 2)
        lo, hi = edges[k], edges[k + 1]
        width = np.maximum(hi - lo, 1.0)
        pos = (x_px - lo) / width  # 0..1 across the tooth
        # Seams: a dark line a pixel wide where teeth meet (the midline one included).
        from_seam = np.minimum(pos, 1.0 - pos) * width
        seam = np.clip(1.0 - from_seam / (0.012 * self.io + 0.8), 0.0, 1.0)
        on = np.clip(from_seam / 0.9, 0.35, 1.0) * (x_px < edges[-1])
        # The incisal edge is rounded at each tooth's corners.
        length = self.lengths_px[k] * (1.0 - 0.25 * (2.0 * pos - 1.0) ** 4)
        face = 1.0 - (2.0 * pos - 1.0) ** 2
        return (
            on.astype(np.float32),
            length.astype(np.float32),
            seam.astype(np.float32),
            face.astype(np.float32),
        )

    def _teeth_over(
        self,
        paint: np.ndarray,
        alpha: np.ndarray,
        x_px: np.ndarray,
        light: float | np.ndarray,
        warm: float = 0.0,
        colour: np.ndarray | None = None,
    ) -> np.ndarray:
        # Teeth further round the arch turn from the light; each is rounded across its face.
        back = 1.0 - 0.5 * np.clip(x_px / max(float(self.edges_px[-1]), 1.0), 0, 1) ** 1.5
        base = self.teeth if colour is None else colour
        tint = base * (1.0 - warm) + self.tongue * warm
        a = alpha[..., None]
        return paint * (1 - a) + tint * (back * light)[..., None] * a
