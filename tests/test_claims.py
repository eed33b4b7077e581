"""Claims on inputs (claims.py): exclusive between open files, released without litter, waited for in order."""

from __future__ import annotations

import threading
import time

from whisper_cli import claims


def test_a_held_claim_refuses_a_second_and_release_removes_the_lock_file(tmp_path):
    base = tmp_path / "out" / "x"
    first = claims.take(base, wait=False)
    assert first is not None and claims.claim_path(base).exists()
    assert claims.take(base, wait=False) is None  # flock conflicts between open files, even in one process
    first.release()
    assert not claims.claim_path(base).exists()
    again = claims.take(base, wait=False)
    assert again is not None
    again.release()


def test_a_waiting_claim_gets_the_input_once_the_holder_lets_go(tmp_path):
    base = tmp_path / "x"
    holder = claims.take(base, wait=False)
    got = []
    waiter = threading.Thread(target=lambda: got.append(claims.take(base, wait=True)))
    waiter.start()
    time.sleep(0.3)
    assert got == [] and waiter.is_alive()
    holder.release()  # unlinks the file the waiter has open: the waiter must lock a fresh one
    waiter.join(timeout=10)
    [claim] = got
    assert claims.claim_path(base).exists()
    assert claims.take(base, wait=False) is None, "the waiter's claim must guard the path others open"
    claim.release()


def test_release_twice_is_harmless(tmp_path):
    claim = claims.take(tmp_path / "x", wait=False)
    claim.release()
    claim.release()
    claims.UNCLAIMED.release()
