"""Performers on generator workers: the CPU generator in a `generator-worker` process over
WebSocket, and the gate's checks on everything a worker sends (each breach fails closed)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from lpm_guard.generator import load_audio
from skimage import data
from websockets.asyncio.server import ServerConnection

from lpm_guard.performers import (
    Breach,
    Direction,
    PerformerFailed,
    PerformerUnavailable,
    Voice,
    portrait_of,
    wire,
)
from lpm_guard.performers.local import LocalBackend
from lpm_guard.performers.offline import render
from lpm_guard.performers.pool import WorkerAddress, WorkerPool
from lpm_guard.performers.protocol import PerformedFrame
from lpm_guard.performers.remote import RemotePerformer
from tests.generator.conftest import flite
from tests.generator_workers import WorkerProcess, new_secret, rogue_worker, worker_process

PORTRAIT = portrait_of(data.astronaut())


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return flite("Papa made a palm basket by the beach.", tmp_path_factory.mktemp("v") / "s.wav")


@pytest.fixture(scope="module")
def workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[WorkerProcess]]:
    """Two real worker processes (capacity 1 each), shared by the tests that leave them up."""
    folder = tmp_path_factory.mktemp("workers")
    with worker_process(folder) as a, worker_process(folder) as b:
        yield [a, b]


def _pool(*workers: WorkerProcess, stall_s: float = 3.0) -> WorkerPool:
    return WorkerPool([WorkerAddress(w.url, w.secret) for w in workers], stall_s=stall_s)


def _frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def test_an_offline_render_on_a_worker_process_is_the_local_render(
    workers: list[WorkerProcess], speech: Path, tmp_path: Path
) -> None:
    remote = render(_pool(workers[0]), PORTRAIT, speech, tmp_path / "remote.mp4", seed=3)
    local = render(LocalBackend(), PORTRAIT, speech, tmp_path / "local.mp4", seed=3)
    assert remote == local > 25
    there, here = _frames(tmp_path / "remote.mp4"), _frames(tmp_path / "local.mp4")
    assert len(there) == len(here) == local
    # The same performance: JPEG at quality 95 on the hop, then H.264 on both sides.
    difference = np.mean(
        [np.abs(a.astype(int) - b).mean() for a, b in zip(there, here, strict=True)]
    )
    assert difference < 2.0
    assert list(workers[0].home.iterdir()) == []  # the worker wrote nothing


def test_a_live_stream_says_where_the_voice_went_and_where_a_cancel_cut_it(
    workers: list[WorkerProcess],
) -> None:
    performer = _pool(workers[1]).start(PORTRAIT, Direction(fps=25, live=True))
    stop = threading.Event()
    try:
        voice = (np.sin(np.arange(8000) / 5.0) * 0.3).astype(np.float32)
        first = performer.feed_audio(voice, Voice.AGENT)
        marks = []
        for frame in performer.frames(stop):
            marks += frame.marks
            if frame.index == 5:
                performer.cancel()
                second = performer.feed_audio(voice, Voice.AGENT)
            if frame.index == 20:
                break
        kinds = [(m.kind.value, m.seq) for m in marks]
        assert kinds == [("placed", first), ("cut", 0), ("placed", second)]
        # The voice starts at a frame boundary (the first frame the worker had not shown yet);
        # the cut and the next voice start at the frame after the cancel.
        assert marks[0].at % 640 == 0
        assert marks[1].at == marks[2].at >= max(marks[0].at, 6 * 640)
    finally:
        performer.close()


def test_a_live_agents_transcript_reaches_the_worker(
    workers: list[WorkerProcess], speech: Path
) -> None:
    """The transcript deltas go to the worker as they come (a worker that did not take the
    message would end the stream), and the voice they hold back is shown when it is due."""
    performer = _pool(workers[0]).start(PORTRAIT, Direction(fps=25, live=True))
    stop = threading.Event()
    try:
        performer.feed_transcript("Papa made a pa")
        voice = load_audio(speech)
        seq = performer.feed_audio(voice, Voice.AGENT)
        performer.feed_transcript("lm basket by the beach.", done=True)
        placed = []
        for frame in performer.frames(stop):
            placed += [m for m in frame.marks if m.kind.value == "placed"]
            if frame.index == 12:
                break
        assert [m.seq for m in placed] == [seq]
    finally:
        performer.close()


def test_a_wrong_secret_is_refused(workers: list[WorkerProcess]) -> None:
    pool = WorkerPool([WorkerAddress(workers[0].url, new_secret())])
    assert not pool.health(pool.workers[0]).up
    with pytest.raises(PerformerUnavailable):
        RemotePerformer(workers[0].url, new_secret(), PORTRAIT, Direction())


def test_sessions_go_where_there_is_room_and_none_past_capacity(
    workers: list[WorkerProcess],
) -> None:
    pool = _pool(*workers)
    first = pool.start(PORTRAIT, Direction())
    second = pool.start(PORTRAIT, Direction())
    try:
        assert {first.url, second.url} == {w.url for w in workers}
        with pytest.raises(PerformerUnavailable, match="all down or full"):
            pool.start(PORTRAIT, Direction())
    finally:
        first.close()
        second.close()


# --- fail closed: workers that die, stall or lie ---------------------------------------------


def test_a_worker_that_dies_mid_stream_fails_it(tmp_path: Path) -> None:
    with worker_process(tmp_path) as worker:
        performer = _pool(worker).start(PORTRAIT, Direction(live=True))
        try:
            with pytest.raises(PerformerFailed) as failed:
                for frame in performer.frames():
                    if frame.index == 3:
                        worker.kill()
            assert failed.value.breach is Breach.DIED
        finally:
            performer.close()


def test_a_worker_that_stalls_fails_the_stream_within_its_allowance(tmp_path: Path) -> None:
    with worker_process(tmp_path) as worker:
        performer = _pool(worker, stall_s=1.0).start(PORTRAIT, Direction(live=True))
        try:
            with pytest.raises(PerformerFailed) as failed:
                for frame in performer.frames():
                    if frame.index == 3:
                        worker.pause()
                        paused = time.monotonic()
            assert failed.value.breach is Breach.STALLED
            assert time.monotonic() - paused < 3.0
        finally:
            worker.resume()
            performer.close()


def _frame(index: int, size: tuple[int, int]) -> bytes:
    rgb = np.full((size[1], size[0], 3), 128, np.uint8)
    return wire.frame(PerformedFrame(index, index / 25, rgb, "idle"), wire.JPEG, 95)


async def _ready(ws: ServerConnection, start: dict[str, Any]) -> tuple[int, int]:
    size = (start["size"][0], start["size"][1])
    await ws.send(wire.event("ready", size=list(size), fps=start["fps"]))
    return size


async def _wrong_size(ws: ServerConnection, start: dict[str, Any]) -> None:
    size = await _ready(ws, start)
    await ws.send(_frame(0, size))
    await ws.send(_frame(1, (size[0] // 2, size[1])))


async def _raw_short(ws: ServerConnection, start: dict[str, Any]) -> None:
    await _ready(ws, start)
    await ws.send(
        wire.frame(PerformedFrame(0, 0.0, np.zeros((4, 4, 3), np.uint8), "idle"), wire.RAW)
    )


async def _skips(ws: ServerConnection, start: dict[str, Any]) -> None:
    size = await _ready(ws, start)
    await ws.send(_frame(0, size))
    await ws.send(_frame(2, size))


async def _after_end(ws: ServerConnection, start: dict[str, Any]) -> None:
    size = await _ready(ws, start)
    await ws.send(_frame(0, size))
    await ws.send(wire.event("end"))
    await ws.send(_frame(1, size))


async def _garbage(ws: ServerConnection, start: dict[str, Any]) -> None:
    await _ready(ws, start)
    await ws.send(b"f\x00\x01")


@pytest.mark.parametrize(
    ("script", "breach", "live"),
    [
        (_wrong_size, Breach.WRONG_SIZE, True),
        (_raw_short, Breach.WRONG_SIZE, True),
        (_skips, Breach.OUT_OF_ORDER, True),
        (_after_end, Breach.AFTER_END, False),
        (_after_end, Breach.AFTER_END, True),
        (_garbage, Breach.MALFORMED, True),
    ],
)
def test_a_worker_that_lies_fails_the_stream_and_no_bad_frame_gets_through(
    script: Any, breach: Breach, live: bool
) -> None:
    secret = new_secret()
    with rogue_worker(script, secret) as url:
        performer = RemotePerformer(url, secret, PORTRAIT, Direction(live=live), stall_s=2.0)
        seen = []
        try:
            with pytest.raises(PerformerFailed) as failed:
                for frame in performer.frames():
                    seen.append(frame)
            assert failed.value.breach is breach, failed.value
        finally:
            performer.close()
    assert [f.index for f in seen] in ([], [0])
    assert all(f.rgb.shape == (512, 512, 3) for f in seen)


def test_a_job_on_a_worker_that_dies_moves_to_another(tmp_path: Path, speech: Path) -> None:
    with worker_process(tmp_path) as doomed, worker_process(tmp_path) as spare:
        pool = _pool(doomed, spare)
        killed: list[int] = []

        def progress(done: int, total: int) -> None:
            if done == 10 and not killed:
                # the first attempt is on one of them: kill that one
                busy = [
                    w for w in (doomed, spare) if pool.health(WorkerAddress(w.url, w.secret)).active
                ]
                busy[0].kill()
                killed.append(busy[0].process.pid)

        frames = render(pool, PORTRAIT, speech, tmp_path / "out.mp4", progress=progress)
        assert killed and len(_frames(tmp_path / "out.mp4")) == frames


def test_a_job_with_no_worker_left_fails_and_writes_nothing(tmp_path: Path, speech: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    with worker_process(tmp_path) as worker:
        pool = _pool(worker)

        def progress(done: int, total: int) -> None:
            if done == 10:
                worker.kill()

        with pytest.raises(PerformerFailed) as failed:
            render(pool, PORTRAIT, speech, out / "out.mp4", progress=progress)
        assert failed.value.breach is Breach.DIED
    assert list(out.iterdir()) == []


def test_the_words_of_a_job_reach_the_mouth_on_a_worker_as_in_this_process(
    workers: list[WorkerProcess], speech: Path, tmp_path: Path
) -> None:
    # The transcript as the gate's audio check gives it: stretches of speech and their words.
    said = [(0.0, 3.5, "papa made a palm basket by the beach")]
    remote = render(_pool(workers[1]), PORTRAIT, speech, tmp_path / "r.mp4", transcript=said)
    local = render(LocalBackend(), PORTRAIT, speech, tmp_path / "l.mp4", transcript=said)
    render(LocalBackend(), PORTRAIT, speech, tmp_path / "audio.mp4")
    assert remote == local
    there, here = _frames(tmp_path / "r.mp4"), _frames(tmp_path / "l.mp4")
    alone = _frames(tmp_path / "audio.mp4")

    def apart(a: list[np.ndarray], b: list[np.ndarray]) -> int:
        """Pixels that differ by more than the codecs' noise: a mouth drawn otherwise."""
        pairs = zip(a, b, strict=True)
        return sum(int((np.abs(x.astype(int) - y).max(axis=2) > 40).sum()) for x, y in pairs)

    # The words change the mouth (phones, not the audio's guess), and the worker got them too:
    # its frames are this process's but for the hop's JPEG (13 pixels here), though the two
    # processes aligned other words before (the aligner forgets them; it drew the first frames'
    # mouth otherwise, ~9,700 pixels, when it did not).
    assert apart(here, alone) > 1000
    assert apart(there, here) < apart(here, alone) / 100, (apart(there, here), apart(here, alone))
