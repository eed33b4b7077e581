"""LocalAgreement-2 on scripted hypotheses (no model): what two passes agree on is final, once, in order."""

from __future__ import annotations

from whisper_cli.live_agreement import LocalAgreement, word_key
from whisper_cli.transcript import Word


def words(*spec: tuple[str, float, float]) -> list[Word]:
    return [Word(start, end, f" {text}", 0.9) for text, start, end in spec]


def texts(committed) -> list[str]:
    return [word.text.strip() for word in committed]


def test_nothing_is_final_after_one_pass():
    policy = LocalAgreement()
    assert policy.insert(words(("And", 0.0, 0.3), ("so", 0.3, 0.5))) == []
    assert texts(policy.pending) == ["And", "so"]


def test_the_prefix_two_passes_agree_on_is_committed_and_the_rest_waits():
    policy = LocalAgreement()
    policy.insert(words(("And", 0.0, 0.3), ("so", 0.3, 0.5), ("my", 0.5, 0.7)))
    committed = policy.insert(words(("And", 0.0, 0.3), ("so,", 0.3, 0.5), ("my", 0.5, 0.7), ("fellow", 0.7, 1.0)))
    assert texts(committed) == ["And", "so,", "my"]  # the newer pass's spelling, punctuation ignored in the match
    assert texts(policy.pending) == ["fellow"]
    assert policy.committed_until_s == 0.7


def test_a_hypothesis_that_changes_its_mind_commits_only_what_stayed():
    policy = LocalAgreement()
    policy.insert(words(("I", 0.0, 0.2), ("think", 0.2, 0.5), ("so", 0.5, 0.7)))
    assert texts(policy.insert(words(("I", 0.0, 0.2), ("thought", 0.2, 0.5), ("so", 0.5, 0.7)))) == ["I"]
    # The third pass agrees with the second, not the first: "thought" wins, "think" is never emitted.
    third = policy.insert(words(("I", 0.0, 0.2), ("thought", 0.2, 0.5), ("so", 0.5, 0.7), ("too", 0.7, 0.9)))
    assert texts(third) == ["thought", "so"]
    assert texts(policy.pending) == ["too"]


def test_a_changed_first_word_commits_nothing():
    policy = LocalAgreement()
    policy.insert(words(("Ask", 0.0, 0.3), ("not", 0.3, 0.5)))
    assert policy.insert(words(("Has", 0.0, 0.3), ("not", 0.3, 0.5))) == []


def test_words_before_the_commit_point_are_never_emitted_again():
    policy = LocalAgreement()
    policy.insert(words(("ask", 0.0, 0.3), ("not", 0.3, 0.5), ("what", 0.5, 0.8)))
    first = policy.insert(words(("ask", 0.0, 0.3), ("not", 0.3, 0.5), ("what", 0.5, 0.8), ("your", 0.8, 1.0)))
    # The buffer is decoded again from its start: the committed words come back, slightly re-timed.
    second = policy.insert(words(("ask", 0.02, 0.31), ("not", 0.31, 0.52), ("what", 0.52, 0.79), ("your", 0.8, 1.0), ("country", 1.0, 1.4)))
    third = policy.insert(words(("ask", 0.0, 0.3), ("not", 0.3, 0.5), ("what", 0.5, 0.8), ("your", 0.8, 1.0), ("country", 1.0, 1.4)))
    assert texts(first + second + third) == ["ask", "not", "what", "your", "country"]


def test_repeated_words_at_a_seam_are_dropped():
    """After the buffer was trimmed at the commit point, the next pass may hear the last committed words again
    with times that put them just after it; they are a repeat, not new speech."""
    policy = LocalAgreement()
    policy.insert(words(("for", 5.0, 5.2), ("your", 5.2, 5.4), ("country", 5.4, 5.9)))
    assert texts(policy.insert(words(("for", 5.0, 5.2), ("your", 5.2, 5.4), ("country", 5.4, 5.9)))) == ["for", "your", "country"]
    seam = words(("your", 5.85, 6.0), ("country", 6.0, 6.3), ("ask", 6.4, 6.6), ("what", 6.6, 6.8))
    assert policy.insert(seam) == []
    assert texts(policy.pending) == ["ask", "what"]
    again = words(("country", 5.9, 6.3), ("ask", 6.4, 6.6), ("what", 6.6, 6.8), ("you", 6.8, 7.0))
    assert texts(policy.insert(again)) == ["ask", "what"]


def test_a_word_said_twice_on_purpose_far_from_the_seam_is_kept():
    policy = LocalAgreement()
    policy.insert(words(("no", 0.0, 0.3)))
    assert texts(policy.insert(words(("no", 0.0, 0.3)))) == ["no"]
    later = words(("no", 3.0, 3.3), ("way", 3.3, 3.6))  # 2.7 s after the commit point: new speech
    policy.insert(later)
    assert texts(policy.insert(later)) == ["no", "way"]


def test_commit_pending_flushes_an_utterance_end_up_to_a_time():
    policy = LocalAgreement()
    policy.insert(words(("the", 0.0, 0.2), ("end", 0.2, 0.6), ("now", 0.6, 0.9)))
    assert texts(policy.commit_pending(until_s=0.7)) == ["the", "end"]
    assert texts(policy.pending) == ["now"]
    assert texts(policy.commit_pending()) == ["now"]
    assert policy.pending == [] and policy.commit_pending() == []
    # A later pass that re-hears the flushed words gives nothing new.
    assert policy.insert(words(("the", 0.0, 0.2), ("end", 0.2, 0.6), ("now", 0.6, 0.9))) == []


def test_every_word_is_committed_once_and_in_order_over_a_noisy_run():
    spoken = [(f"w{i}", i * 0.4, i * 0.4 + 0.3) for i in range(30)]
    policy, out = LocalAgreement(), []
    for step in range(1, 32):
        heard = spoken[: step]
        if step % 3 == 0 and len(heard) > 2:  # every third pass mishears its last word
            heard = heard[:-1] + [("oops", heard[-1][1], heard[-1][2])]
        out += policy.insert(words(*heard))
    out += policy.commit_pending()
    assert texts(out) == [name for name, _, _ in spoken]
    assert all(a.end <= b.start for a, b in zip(out, out[1:]))


def test_word_key_ignores_case_and_punctuation_but_not_symbols_alone():
    assert word_key(" Country,") == word_key("country") == "country"
    assert word_key(" -") == "-"
