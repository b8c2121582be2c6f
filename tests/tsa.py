"""A real RFC 3161 time-stamp authority on loopback, for the signing tests: HTTP POST of a DER
``TimeStampReq`` (application/timestamp-query) answered with a DER ``TimeStampResp``
(application/timestamp-reply) whose token is a CMS SignedData over a ``TSTInfo``, signed by a
TSA certificate (EKU timeStamping, critical) issued by its own test root.

Hand-written because PyPI has RFC 3161 clients (rfc3161-client, rfc3161ng) but no maintained
server; the ASN.1 is asn1crypto's ``tsp`` and ``cms`` definitions, the signature cryptography's.
"""

from __future__ import annotations

import hashlib
import itertools
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

POLICY = "1.3.6.1.4.1.55555.3161.1"  # a test policy OID; any OID will do for a test TSA
QUERY = "application/timestamp-query"
REPLY = "application/timestamp-reply"


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "lpm-guard tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not ca,
        content_commitment=not ca,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


@dataclass
class TsaAuthority:
    """The TSA's key, its certificate and the test root that issued it."""

    root: x509.Certificate
    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey = field(repr=False)

    @classmethod
    def create(cls, now: datetime | None = None) -> TsaAuthority:
        now = now or datetime.now(UTC)
        root_key = ec.generate_private_key(ec.SECP256R1())
        root_name = _name("lpm-guard test TSA root")
        root = (
            x509.CertificateBuilder()
            .subject_name(root_name)
            .issuer_name(root_name)
            .public_key(root_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_usage(ca=True), critical=True)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False
            )
            .sign(root_key, hashes.SHA256())
        )
        key = ec.generate_private_key(ec.SECP256R1())
        ski = root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        certificate = (
            x509.CertificateBuilder()
            .subject_name(_name("lpm-guard test TSA"))
            .issuer_name(root_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_usage(ca=False), critical=True)
            # RFC 3161 §2.3: the TSA's certificate has exactly this EKU, marked critical.
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .sign(root_key, hashes.SHA256())
        )
        return cls(root, certificate, key)

    def root_pem(self) -> bytes:
        return self.root.public_bytes(Encoding.PEM)

    def respond(self, request_der: bytes, gen_time: datetime, serial: int) -> bytes:
        """The DER ``TimeStampResp`` to one DER ``TimeStampReq`` (rejection if malformed)."""
        try:
            request = tsp.TimeStampReq.load(request_der)
            imprint = request["message_imprint"]
            _ = imprint.native  # parse it all now: a malformed request is rejected, not half-read
        except (ValueError, TypeError):
            return tsp.TimeStampResp({"status": {"status": "rejection"}}).dump()
        info: dict[str, object] = {
            "version": "v1",
            "policy": POLICY,
            "message_imprint": imprint,
            "serial_number": serial,
            "gen_time": gen_time,
            "accuracy": {"seconds": 1},
            "ordering": False,
        }
        if request["nonce"].native is not None:
            info["nonce"] = request["nonce"]
        tst_info = tsp.TSTInfo(info)
        content = tst_info.dump()
        cert_der = self.certificate.public_bytes(Encoding.DER)
        certificate = asn1_x509.Certificate.load(cert_der)
        signed_attrs = cms.CMSAttributes(
            [
                {"type": "content_type", "values": ["tst_info"]},
                {"type": "signing_time", "values": [cms.Time({"utc_time": gen_time})]},
                {"type": "message_digest", "values": [hashlib.sha256(content).digest()]},
                {
                    "type": "signing_certificate_v2",
                    "values": [
                        {
                            "certs": [
                                {
                                    "hash_algorithm": {"algorithm": "sha256"},
                                    "cert_hash": hashlib.sha256(cert_der).digest(),
                                }
                            ]
                        }
                    ],
                },
            ]
        )
        signature = self.key.sign(signed_attrs.dump(), ec.ECDSA(hashes.SHA256()))
        signer_info = cms.SignerInfo(
            {
                "version": "v1",
                "sid": cms.SignerIdentifier(
                    {
                        "issuer_and_serial_number": {
                            "issuer": certificate.issuer,
                            "serial_number": certificate.serial_number,
                        }
                    }
                ),
                "digest_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
                "signed_attrs": signed_attrs,
                "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"}),
                "signature": signature,
            }
        )
        certificates = [certificate] if request["cert_req"].native else []
        signed_data = cms.SignedData(
            {
                "version": "v3",
                "digest_algorithms": [algos.DigestAlgorithm({"algorithm": "sha256"})],
                "encap_content_info": {
                    "content_type": "tst_info",
                    "content": core.ParsableOctetString(content),
                },
                "certificates": certificates,
                "signer_infos": [signer_info],
            }
        )
        token = cms.ContentInfo({"content_type": "signed_data", "content": signed_data})
        return tsp.TimeStampResp(
            {"status": {"status": "granted"}, "time_stamp_token": token}
        ).dump()


@dataclass
class RunningTsa:
    url: str
    authority: TsaAuthority
    requests: list[bytes]


@contextmanager
def running_tsa(
    authority: TsaAuthority | None = None, clock: Callable[[], datetime] | None = None
) -> Iterator[RunningTsa]:
    """Serve ``authority`` (a fresh one by default) on 127.0.0.1 on a free port."""
    authority = authority or TsaAuthority.create()
    now = clock or (lambda: datetime.now(UTC).replace(microsecond=0))
    serials = itertools.count(1)
    received: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(min(length, 1 << 16))
            if self.headers.get_content_type() != QUERY:
                self.send_error(415)
                return
            received.append(body)
            reply = authority.respond(body, now(), next(serials))
            self.send_response(200)
            self.send_header("Content-Type", REPLY)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield RunningTsa(f"http://127.0.0.1:{server.server_port}/tsa", authority, received)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@dataclass
class SilentTsa:
    url: str
    connections: list[socket.socket]


@contextmanager
def silent_tsa(*, trickle_s: float | None = None) -> Iterator[SilentTsa]:
    """An authority that accepts every connection and never answers (a hung server, a
    black-holing proxy) or, with ``trickle_s``, answers a valid status line and headers and then
    one byte every ``trickle_s`` seconds, forever."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)  # close() does not wake a blocked accept(): poll the stop flag
    held: list[socket.socket] = []
    stop = threading.Event()

    def dribble(connection: socket.socket) -> None:
        try:
            connection.recv(1 << 16)
            connection.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/timestamp-reply\r\n"
                b"Content-Length: 100000\r\n\r\n"
            )
            while not stop.wait(trickle_s):
                connection.sendall(b"0")
        except OSError:
            return

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(connection)
            if trickle_s is not None:
                threading.Thread(target=dribble, args=(connection,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield SilentTsa(f"http://127.0.0.1:{listener.getsockname()[1]}/tsa", held)
    finally:
        stop.set()
        listener.close()
        for connection in held:
            connection.close()
        thread.join(5)
