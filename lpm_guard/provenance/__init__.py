"""Provenance: the keyed watermark in every frame, C2PA manifests on every file and live
segment, and the verifier that reads both back and finds the audit record."""
