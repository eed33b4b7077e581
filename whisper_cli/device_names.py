"""The device and compute-type names the CLI and the server offer; stdlib only, so `--help` stays light.

engine/device.py checks a request against them and resolves "auto".
"""

DEVICES = ("auto", "cpu", "cuda")
COMPUTE_TYPES = (
    "auto",
    "int8",
    "int8_float16",
    "int8_float32",
    "int8_bfloat16",
    "int16",
    "float16",
    "bfloat16",
    "float32",
    "default",
)
