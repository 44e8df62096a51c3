"""findface-extraction-api: an open drop-in for NtechLab FindFace's Extraction API."""

import os

__version__ = "0.2.0"

# The onnxruntime wheel has Microsoft's 1DS telemetry compiled in: importing it writes a device
# id and an event queue under ~/.cache/Microsoft. A face service sends nothing anywhere it was not
# asked to, so it is switched off here, before any module of the package can import onnxruntime
# (the variable is read at import; disable_telemetry_events() afterwards is too late).
os.environ["ORT_DISABLE_TELEMETRY"] = "1"
