#!/usr/bin/env bash
# Regenerates the bundled sample clips with espeak-ng and sox (Debian packages of the same names).
# The clips are synthetic speech made by this project, so they carry no licence of anyone else.
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# One short sentence: the clip the README's first command transcribes.
espeak-ng -v en-us -s 150 -w "$tmp/hello.wav" \
  "This recording was transcribed on your own computer, without any network connection."
sox "$tmp/hello.wav" -r 16000 -c 1 hello.flac

# Several sentences with pauses, long enough for several segments (used to show streaming).
espeak-ng -v en-us -s 150 -w "$tmp/a.wav" "The weather today is sunny with a light breeze from the west."
espeak-ng -v en-us -s 150 -w "$tmp/b.wav" "Tomorrow we expect heavy rain in the morning and clear skies by the evening."
espeak-ng -v en-us -s 150 -w "$tmp/c.wav" "Please remember to bring an umbrella if you are going out early."
sox "$tmp/a.wav" "$tmp/b.wav" "$tmp/c.wav" -r 16000 -c 1 "$tmp/joined.wav"
sox "$tmp/joined.wav" forecast.ogg pad 0 0.5
