"""The consent domain's errors: each is an RFC 9457 problem (see ``lpm_guard.errors``)."""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import LpmGuardError, Unavailable


class ConsentError(LpmGuardError):
    """Base of every error the consent domain raises on purpose."""

    status, slug, title = 422, "consent-error", "Consent request refused"


class UploadTooLarge(ConsentError):
    status, slug, title = 413, "upload-too-large", "The upload is too large"


class UnreadableImage(ConsentError):
    status, slug, title = 422, "unreadable-image", "The file is not an image we can read"


class ImageTooLarge(ConsentError):
    """More pixels than allowed: a decompression bomb, or simply a needlessly huge photo."""

    status, slug, title = 422, "image-too-large", "The image has too many pixels"


class UnreadableMedia(ConsentError):
    status, slug, title = 422, "unreadable-media", "The recording cannot be read"


class NoFace(ConsentError):
    status, slug, title = 422, "no-face", "No face found"


class MultipleFaces(ConsentError):
    status, slug, title = 422, "multiple-faces", "More than one face found"


class FaceMismatch(ConsentError):
    status, slug, title = 422, "face-mismatch", "The face does not match the identity"


class ProtectedIdentityMatch(ConsentError):
    status, slug, title = 403, "protected-identity", "The face matches a protected identity"


class IdentityCollision(ConsentError):
    status, slug, title = 409, "identity-collision", "The face matches another identity"


class ConsentRefused(ConsentError):
    """Every capture check that failed: ``reasons`` in words, ``checks`` as stable codes (the
    subject's page explains each code in plain words; ``captures.REASONS`` lists them). Never a
    score or a distance: those go to the reviewer."""

    status, slug, title = 422, "consent-refused", "Consent was not accepted"

    def __init__(self, reasons: Sequence[str], checks: Sequence[str] = ()) -> None:
        super().__init__("; ".join(reasons), reasons=list(reasons), checks=sorted(set(checks)))
        self.reasons = tuple(reasons)
        self.checks = tuple(sorted(set(checks)))


class LinkNotFound(ConsentError):
    status, slug, title = 404, "link-not-found", "This link is not valid"


class LinkGone(ConsentError):
    """The link was valid once: it has been used, it expired, or its identity was revoked.
    ``why`` says which, as a code: used, spent, expired, revoked, refused."""

    status, slug, title = 410, "link-gone", "This link can no longer be used"

    def __init__(self, detail: str, why: str) -> None:
        super().__init__(detail, why=why)
        self.why = why


class CaptureNotFound(ConsentError):
    """No capture session of this invitation has this id (another session's, or none)."""

    status, slug, title = 404, "capture-not-found", "No such capture session"


class CaptureGone(LinkGone):
    """The capture session was used (a replayed upload) or has expired: open a new one."""

    slug, title = "capture-gone", "This capture session can no longer be used"


class UnsupportedCapture(UnreadableMedia):
    status, slug, title = 415, "unsupported-media", "The recording's type is not accepted"


class WrongState(ConsentError):
    status, slug, title = 409, "wrong-state", "Not possible in the identity's current state"


class FaceModelError(ConsentError):
    """The configured face model cannot be loaded or does not have the expected shape."""

    status, slug, title = 503, "face-model-unavailable", "The face model is not usable"


class InvalidAddress(ConsentError):
    status, slug, title = 422, "invalid-address", "The email address is not valid"


class AddressBlocked(ConsentError):
    """The person at this address asked for no more invitations (after refusing or
    withdrawing)."""

    status, slug, title = 409, "address-blocked", "This person asked not to be invited"


class TooManyInvitations(ConsentError):
    """A daily limit on invitations: per identity, or per researcher."""

    status, slug, title = 429, "too-many-invitations", "Too many invitations today"


class MailUnavailable(ConsentError, Unavailable):
    """No SMTP server is configured, or it did not take the message: nothing was sent."""

    status, slug, title = 503, "mail-unavailable", "The message could not be sent"
