"""Clients of the lpm-guard API: the live-session client and a Pipecat video service."""
