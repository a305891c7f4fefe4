"""Rasa input channels of the project: one module per channel."""
