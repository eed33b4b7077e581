"""One live pass, timed in parts (issue 14): the encoder on the padded 30 s window, generate (beam 5 and greedy),
and the whole transcribe_span with and without word timestamps, for 5, 15 and 28 s of the 5-minute espeak recording.

    flock /work/bench.lock .venv/bin/python benchmarks/live_profile.py tiny.en base
    .venv/bin/python benchmarks/live_profile.py --passes 1.0   # passes per second of audio (real VAD, scripted words)
"""
import sys, time, os, statistics
ROOT = __import__("pathlib").Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT)); sys.path.insert(0, str(ROOT / "benchmarks"))
import numpy as np
from whisper_cli.audio import load_audio, SAMPLE_RATE
from whisper_cli.engine.model import get_whisper
from whisper_cli.options import DecodeOptions
import dataclasses

def t(fn, n=3):
    out = []
    for _ in range(n):
        s = time.perf_counter(); r = fn(); out.append(time.perf_counter() - s)
    return statistics.median(out), r

from workloads import long_recording
clip = long_recording(quick=False, long_s=300).clips[0]
audio = load_audio(str(clip.path))
def count_passes():
    from whisper_cli.live import LiveTranscriber, LiveSettings
    from whisper_cli.transcript import Segment, Word

    clip = long_recording(quick=False, long_s=300).clips[0]
    audio = load_audio(str(clip.path))
    step = float(sys.argv[2])
    calls = []; ends = [0]
    def decode(samples, offset, prompt):
        calls.append(len(samples) / SAMPLE_RATE)
        n = int(len(samples) / SAMPLE_RATE / 0.4)
        first = int(np.ceil(offset / 0.4))
        words = tuple(Word(i * 0.4, i * 0.4 + 0.3, f" w{i}", 0.9) for i in range(first, first + n) if i * 0.4 + 0.3 <= offset + len(samples) / SAMPLE_RATE)
        return [Segment(id=0, start=words[0].start, end=words[-1].end, text="".join(w.text for w in words), words=words, avg_logprob=-0.2, no_speech_prob=0.01, compression_ratio=1.2, temperature=0.0)] if words else []
    def ended(): ends[0] += 1
    lt = LiveTranscriber(decode, LiveSettings(), on_utterance_end=ended)
    hop = int(step * SAMPLE_RATE)
    for i in range(0, len(audio), hop):
        lt.insert_audio_chunk(audio[i:i + hop]); lt.process_iter()
    lt.finish()
    dur = len(audio) / SAMPLE_RATE
    print(f"step {step}s: {dur:.0f}s audio, {len(calls)} passes ({len(calls)/dur:.2f}/s of audio), utterance ends {ends[0]}, "
          f"provisional {len(calls)-ends[0]} ({(len(calls)-ends[0])/len(calls):.0%}), mean buffer {np.mean(calls):.1f}s")


if sys.argv[1] == "--passes":
    count_passes()
    sys.exit()
print("load", os.getloadavg())
for name in sys.argv[1:]:
    w = get_whisper(name, "int8", "cpu", 2, offline=True, show_progress=False)
    m = w.model
    import ctranslate2
    for secs in (5, 15, 28):
        x = audio[int(60*SAMPLE_RATE):int((60+secs)*SAMPLE_RATE)]
        feats = m.feature_extractor(x)
        pad = np.zeros((feats.shape[0], 3000), dtype=np.float32); pad[:, :min(3000, feats.shape[1])] = feats[:, :3000]
        sv = ctranslate2.StorageView.from_array(pad[None])
        enc_t, enc = t(lambda: m.model.encode(sv, to_cpu=False), 2)
        tok = m.hf_tokenizer
        prompt = [50258, 50259, 50359, 50363] if m.model.is_multilingual else [50257, 50362]
        gen5, r5 = t(lambda: m.model.generate(enc, [prompt], beam_size=5, max_length=224), 2)
        gen1, r1 = t(lambda: m.model.generate(enc, [prompt], beam_size=1, max_length=224), 2)
        base = dataclasses.replace(DecodeOptions(), language="en", word_timestamps=True, vad_filter=False, condition_on_previous_text=False)
        full5, _ = t(lambda: list(w.transcribe_span(x, base, offset_s=60).segments), 2)
        nw = dataclasses.replace(base, word_timestamps=False)
        full5nw, _ = t(lambda: list(w.transcribe_span(x, nw, offset_s=60).segments), 2)
        g = dataclasses.replace(base, beam_size=1, best_of=1)
        full1, _ = t(lambda: list(w.transcribe_span(x, g, offset_s=60).segments), 2)
        print(f"{name} {secs:>2}s audio: encode(30s pad) {enc_t:.2f}s  generate beam5 {gen5:.2f}s beam1 {gen1:.2f}s "
              f"| span beam5+words {full5:.2f}s, beam5 no words {full5nw:.2f}s, greedy+words {full1:.2f}s  tokens {len(r5[0].sequences_ids[0])}", flush=True)
print("load", os.getloadavg())
