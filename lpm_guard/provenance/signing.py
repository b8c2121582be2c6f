"""C2PA signing of MP4 files, published atomically: temp file beside the target, sign, fsync,
rename. A failure leaves nothing at the target path and no temporary file behind.

With a time-stamp authority (LPM_TSA_URL) every manifest's signature is time-stamped (RFC 3161),
so validators check the certificate against the signing time, not today's date: the file stays
valid after the certificate expires. The hard binding covers top-level ``free`` and ``skip``
boxes too (c2pa leaves them out by default), so bytes hidden in one after signing show."""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import c2pa

from ..keys import C2paCredentials
from .errors import SigningError
from .manifest import MP4, build_manifest, new_label
from .models import ManifestLabel, ProvenanceRecord, SignedAsset
from .tsa_relay import DEFAULT_TIMEOUT_S, TimeStampRelay, relay_for


@dataclass(frozen=True)
class Ingredient:
    """A signed MP4 that went into the one being signed (a live segment into its recording)."""

    path: Path
    title: str
    relationship: str = "componentOf"


_BUILDER_SETTINGS = {"builder": {"bmff_hash_exclude_free_and_skip_boxes": False}}


class ManifestKeeper(Protocol):
    """Where signed manifests are kept for resolution (``manifests.ManifestStore``)."""

    def keep(self, reference: int, label: ManifestLabel, manifest: bytes) -> None: ...


class Mp4Signer:
    """Signs MP4 files with one C2PA certificate chain, time-stamped at ``ta_url`` if given
    (through ``tsa_relay``: an authority that has not answered within ``ta_timeout_s`` fails the
    signature then, not after c2pa's own 30 s). Not thread-safe: one per thread."""

    def __init__(
        self,
        credentials: C2paCredentials,
        *,
        ta_url: str | None = None,
        ta_timeout_s: float = DEFAULT_TIMEOUT_S,
        keeper: ManifestKeeper | None = None,
    ) -> None:
        self._keeper = keeper
        self._relay: TimeStampRelay | None = (
            relay_for(ta_url, ta_timeout_s) if ta_url is not None else None
        )
        info = c2pa.C2paSignerInfo(
            credentials.algorithm.encode("ascii"),
            credentials.certificate_chain_pem,
            credentials.private_key_pem,
            self._relay.url if self._relay is not None else None,
        )
        try:
            self._signer = c2pa.Signer.from_info(info)
        except c2pa.C2paError as exc:
            raise SigningError(f"the C2PA signing credentials are not usable: {exc}") from None

    def close(self) -> None:
        self._signer.close()

    def __enter__(self) -> Mp4Signer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def sign(
        self,
        source: Path,
        target: Path,
        record: ProvenanceRecord,
        *,
        label: ManifestLabel | None = None,
        extra_assertions: list[dict[str, Any]] | None = None,
        ingredients: Sequence[Ingredient] = (),
    ) -> SignedAsset:
        """Sign the unsigned MP4 ``source`` into ``target`` (replaced only on success)."""
        label = label or new_label()
        manifest = build_manifest(record, title=target.name, label=label, extra=extra_assertions)
        started = time.perf_counter()
        asked = time.monotonic()  # the relay's clock
        with publishing(target) as partial:
            try:
                context = c2pa.Context.from_dict(_BUILDER_SETTINGS)
                with c2pa.Builder(manifest, context) as builder:
                    for ingredient in ingredients:
                        with ingredient.path.open("rb") as stream:
                            builder.add_ingredient(
                                {
                                    "title": ingredient.title,
                                    "relationship": ingredient.relationship,
                                },
                                MP4,
                                stream,
                            )
                    with source.open("rb") as src, partial.open("w+b") as out:
                        store = builder.sign(self._signer, MP4, src, out)
                        signed = time.perf_counter()
                        out.flush()
                        os.fsync(out.fileno())
            except c2pa.C2paError as exc:
                why = self._relay.failure_since(asked) if self._relay is not None else None
                raise SigningError(f"C2PA signing of {source.name} failed: {why or exc}") from None
            # Kept before the file is published: an output whose manifest cannot be resolved
            # later is not published at all.
            if self._keeper is not None:
                self._keeper.keep(record.watermark_reference, label, store)
        done = time.perf_counter()
        return SignedAsset(
            target, label, (signed - started) * 1000, (done - signed) * 1000, manifest=store
        )


@contextlib.contextmanager
def publishing(target: Path) -> Iterator[Path]:
    """A temporary path beside ``target``; renamed onto it when the block succeeds, removed if
    it raises. The directory is fsynced so the rename survives a crash."""
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".partial")
    os.close(fd)
    partial = Path(name)
    try:
        yield partial
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    directory = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
