"""Whisper's quality thresholds, written once: the decoding defaults (options.py) and the hallucination checks (quality.py)."""

MAX_COMPRESSION_RATIO = 2.4  # gzip ratio of the text: high means repetitive text
MIN_AVG_LOGPROB = -1.0  # mean log probability of the tokens: low means the model was guessing
MAX_NO_SPEECH_PROB = 0.6  # the model's own probability that the window holds no speech
