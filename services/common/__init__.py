"""Pieces every sample service shares: JSON error bodies, health and readiness."""
