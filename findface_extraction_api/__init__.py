"""findface-extraction-api: an open drop-in for NtechLab FindFace's Extraction API."""

__version__ = "0.1.0"
