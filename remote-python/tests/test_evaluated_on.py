"""candidate.evaluated says what its accuracy was measured on (data set, protocol, epochs) when the stages say."""

import pytest
from wire import assert_server_message

from archloop.config import load_config
from archloop.run.loop import open_run


@pytest.fixture
def store(tmp_path):
    s = open_run(tmp_path / "run-a", load_config(preset="demo"))
    yield s
    s.close()


def _checked(store, index):
    if index == 0:
        store.start_cycle(1, 2, None)
    cid, _ = store.start_candidate(1, index)
    store.candidate_generated(cid, "code", 1, 10, 0.5)
    store.candidate_validated(cid, True, "ok", None, None, 100)
    store.candidate_novelty(cid, 0.2, "seed:x", True, "abc", False)
    return cid


def _evaluate(store, cid, **measured):
    common = dict(outcome="ok", accuracy=41.2, params=100, train_seconds=1.0, eval_seconds=0.1)
    extra = dict(peak_memory_mb=None, images_per_second=None, message=None)
    return store.candidate_evaluated(cid, **common, **extra, **measured)


def test_the_event_names_data_protocol_and_epochs_and_is_valid_on_the_wire(store):
    event = _evaluate(store, _checked(store, 0), data="synthetic", protocol="fast", epochs=1)
    assert (event.data["data"], event.data["protocol"], event.data["epochs"]) == ("synthetic", "fast", 1)
    assert_server_message(event.to_wire(store.run_id))


def test_stages_that_do_not_say_leave_the_fields_out(store):
    event = _evaluate(store, _checked(store, 0))
    assert not {"data", "protocol", "epochs"} & set(event.data)
    assert_server_message(event.to_wire(store.run_id))
