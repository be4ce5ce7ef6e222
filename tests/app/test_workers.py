import threading
import time

from fieldcast.app.workers import JobWorker
from fieldcast.engine.jobs import Progress


def _counting_job(n, gate=None, step_s=0.0):
    def factory(token):
        for i in range(n):
            token.raise_if_cancelled()
            if gate is not None:
                gate.wait(5)
            time.sleep(step_s)
            yield Progress("count", i + 1, n)

    return factory


def test_events_arrive_in_order_then_finished(qtbot):
    worker = JobWorker(_counting_job(5))
    seen, statuses = [], []
    worker.sig_event.connect(lambda e: seen.append(e.done))
    worker.sig_finished.connect(statuses.append)
    with qtbot.waitSignals([worker.sig_started, worker.sig_finished], order="strict"):
        worker.start()
    assert statuses == ["done"]
    qtbot.waitUntil(lambda: seen == [1, 2, 3, 4, 5])
    worker.wait()


def test_cancel_stops_the_job_and_reports_cancelled(qtbot):
    gate = threading.Event()
    worker = JobWorker(_counting_job(1000, gate, step_s=0.01))
    seen = []
    worker.sig_event.connect(lambda e: seen.append(e.done))
    with qtbot.waitSignal(worker.sig_finished, timeout=10_000) as blocker:
        worker.start()
        gate.set()
        qtbot.waitUntil(lambda: len(seen) >= 3)
        worker.cancel()
    assert blocker.args == ["cancelled"]
    assert len(seen) < 1000
    worker.wait()


def test_pause_holds_the_job_until_resumed(qtbot):
    worker = JobWorker(_counting_job(50))
    seen = []
    worker.sig_event.connect(lambda e: seen.append(e.done))
    worker.pause()
    worker.start()
    qtbot.wait(200)
    assert len(seen) <= 1
    with qtbot.waitSignal(worker.sig_finished, timeout=10_000):
        worker.resume()
    qtbot.waitUntil(lambda: len(seen) == 50)
    worker.wait()


def test_an_error_is_reported_with_its_message(qtbot):
    def factory(token):
        yield Progress("x", 0, 1)
        raise ValueError("bad recipe: lr must be positive")

    worker = JobWorker(factory)
    errors = []
    worker.sig_error.connect(lambda msg, tb: errors.append((msg, tb)))
    with qtbot.waitSignal(worker.sig_finished) as blocker:
        worker.start()
    assert blocker.args == ["failed"]
    assert errors[0][0] == "ValueError: bad recipe: lr must be positive"
    assert "Traceback" in errors[0][1]
    worker.wait()
