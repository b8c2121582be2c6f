"""Settings, read from the environment with the ``LPM_`` prefix (and a ``.env`` file)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
JobQueueKind = Literal["auto", "process", "procrastinate"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LPM_", env_file=".env", extra="ignore")

    data_dir: Path = Field(
        default=Path("./data"), description="Where the database, keys and outputs live."
    )
    keys_dir_override: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("LPM_KEYS_DIR", "keys_dir"),
        description="The key directory (default DATA_DIR/keys). Every node of one database "
        "must use the same keys: mount one shared directory or secret here.",
    )
    node_id: str | None = Field(
        default=None,
        max_length=64,
        pattern=r"^[A-Za-z0-9._:-]+$",
        description="This process's name in the leases on jobs and live sessions (default: "
        "host name, process id and a random suffix). Unique per process: a node restarted "
        "under its own id takes its unfinished work back at once.",
    )
    node_lease_s: float = Field(
        default=10.0,
        gt=0,
        description="A node that has not renewed its lease on a job or live session for this "
        "long is presumed dead: any other node recovers that work.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; defaults to SQLite (WAL mode) at DATA_DIR/lpm-guard.db.",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    public_url: str | None = Field(
        default=None,
        description="The URL clients reach this server at: the OAuth2 issuer and the web "
        "pages' redirect URI. Default http://HOST:PORT.",
    )
    node_url: str | None = Field(
        default=None,
        description="This node's own URL, reachable by clients without the load balancer: a "
        "live session's stream URL points at the node that holds it. Default: PUBLIC_URL.",
    )
    media_dir_override: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("LPM_MEDIA_DIR", "media_dir"),
        description="Where uploaded voices, finished videos and live sessions' records go "
        "(default DATA_DIR). With more than one node: a directory every node and worker can "
        "read and write (NFS, a shared volume).",
    )
    redis_url: str | None = Field(
        default=None,
        description="Redis for the rate limits every node shares (redis://host:port/db). "
        "Without it each process counts on its own.",
    )
    job_queue: JobQueueKind = Field(
        default="auto",
        description="Where offline jobs run: `process` (worker processes of the server that "
        "took the job), `procrastinate` (a PostgreSQL queue that `lpm-guard worker` processes "
        "on any machine take jobs from); `auto`: procrastinate on PostgreSQL, else process.",
    )
    log_level: LogLevel = "INFO"
    log_json: bool = Field(default=True, description="JSON log lines; false gives console lines.")
    audit_origin: str = Field(
        default="lpm-guard.local/audit",
        description="The log's name in its signed checkpoints (C2SP tlog-checkpoint origin).",
    )
    checkpoint_interval_s: float = Field(
        default=10.0, gt=0, description="A new signed checkpoint at most this often (seconds)."
    )
    verify_max_upload_bytes: int = Field(
        default=256 * 1024 * 1024, gt=0, description="Largest file POST /v1/verify accepts."
    )
    verify_max_frame_pixels: int = Field(
        default=1920 * 1088,
        gt=0,
        description="Largest frame (width x height) verification decodes; a video with larger "
        "frames is refused (413) before any frame is decoded.",
    )
    verify_max_held_pixels: int = Field(
        default=50 * 1024 * 1024,
        gt=0,
        description="Pixels of decoded frames one verification holds at once (a byte of luma "
        "each): the watermark is read from at most this many pixels' worth of frames, up to "
        "50 frames.",
    )
    verify_workers: int = Field(
        default=2,
        ge=1,
        description="Verifications one server process decodes at once; a verification "
        "arriving while as many more wait is refused with 503 and Retry-After.",
    )
    audio_check_workers: int = Field(
        default=1,
        ge=0,
        description="Processes that check a generation's audio for the policy (0: half the "
        "CPUs, at least one); as many checks again may wait, past that 503 and Retry-After.",
    )
    warm_workers: bool = Field(
        default=True,
        description="Start the audio-check and live speech-check worker processes when the "
        "server starts (each loads torch and the policy's models: tens of seconds on a busy "
        "machine), so that the first generation or live session does not wait for them.",
    )
    live_sessions_per_researcher: int = Field(
        default=2, ge=1, description="Live sessions one researcher may hold open at once."
    )
    live_sessions_per_process: int = Field(
        default=8, ge=1, description="Live sessions one server process runs at once."
    )
    live_speech_workers: int = Field(
        default=0,
        ge=0,
        description="Processes that transcribe live sessions' speech for the policy "
        "(0: half the CPUs, at least one).",
    )
    generator_workers: str = Field(
        default="",
        description="Comma-separated URLs of `lpm-guard generator-worker`s (ws://host:port or "
        "wss://…) that render sessions and jobs; empty (the default): the CPU generator "
        "renders in this process. The gate watermarks, records, signs and audits every frame.",
    )
    generator_worker_secrets: Path | None = Field(
        default=None,
        description="A file of the workers' secrets, one line each: `URL SECRET` (a line with "
        "only a secret serves every worker not named). Needed with GENERATOR_WORKERS.",
    )
    generator_worker_ca: Path | None = Field(
        default=None, description="The CA that issued wss:// workers' certificates."
    )
    generator_worker_cert: Path | None = Field(
        default=None,
        description="The gate's certificate (PEM, with its key in the same file or "
        "GENERATOR_WORKER_KEY) for workers that ask for one (mutual TLS).",
    )
    generator_worker_key: Path | None = Field(default=None, description="Its private key.")
    generator_frames: Literal["jpeg", "raw"] = Field(
        default="jpeg",
        description="How frames travel from workers: JPEG at quality 95, or raw RGB (lossless, "
        "20 MB/s per 512² session).",
    )
    generator_stall_s: float = Field(
        default=3.0,
        gt=0,
        description="A worker that sends no frame for this long stops its session or job.",
    )
    verify_rate_limit: str = Field(
        default="10/minute",
        description="POST /v1/verify calls per client address (`limits` notation, e.g. 10/minute).",
    )
    tsa_url: str | None = Field(
        default=None,
        pattern=r"^https?://",
        description="An RFC 3161 time-stamp authority's URL: every C2PA manifest is "
        "time-stamped there when it is signed, so it stays valid after the signing certificate "
        "expires. Signing fails (nothing is published) while the authority cannot be reached. "
        "None (the default): manifests carry no time-stamp.",
    )
    tsa_timeout_s: float = Field(
        default=5.0,
        gt=0,
        le=25,
        description="How long signing waits for the time-stamp authority (connect, request and "
        "reply together) before it fails, nothing published. c2pa alone would wait 30 s.",
    )
    tsa_trust_anchors: Path | None = Field(
        default=None,
        description="A PEM file with the root certificates of the time-stamp authority: "
        "verification trusts time-stamps that chain to them (and to nothing else).",
    )
    trusted_proxies: str = Field(
        default="",
        description="Comma-separated addresses or networks of reverse proxies whose "
        "X-Forwarded-For and X-Forwarded-Proto are believed (e.g. `127.0.0.1` behind a local "
        "HAProxy). Empty (the default): no proxy is trusted, the per-address limits count "
        "the connecting address.",
    )
    sign_up_rate_limit: str = Field(
        default="5/hour",
        description="Sign-ups (POST /v1/applications) per client address (`limits` notation).",
    )
    sign_in_rate_limit: str = Field(
        default="30/minute",
        description="Sign-in attempts (POST /oauth/authorize) per client address, right or "
        "wrong, before the failure throttle's per-account count (`limits` notation).",
    )

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'lpm-guard.db').resolve()}"

    @property
    def resolved_public_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def resolved_node_url(self) -> str:
        return (self.node_url or self.resolved_public_url).rstrip("/")

    @property
    def trusted_proxy_list(self) -> list[str]:
        return [item.strip() for item in self.trusted_proxies.split(",") if item.strip()]

    @property
    def media_dir(self) -> Path:
        return self.media_dir_override or self.data_dir

    @property
    def uses_procrastinate(self) -> bool:
        if self.job_queue == "auto":
            return self.resolved_database_url.startswith("postgresql")
        return self.job_queue == "procrastinate"

    @property
    def generator_worker_list(self) -> list[str]:
        return [item.strip() for item in self.generator_workers.split(",") if item.strip()]

    @property
    def keys_dir(self) -> Path:
        return self.keys_dir_override or self.data_dir / "keys"

    @property
    def audit_dir(self) -> Path:
        return self.data_dir / "audit"


def get_settings() -> Settings:
    return Settings()
