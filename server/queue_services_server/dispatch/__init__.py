"""Dispatch: when jobs are due, which go next and how many (dispatcher), and sending a batch
(sender)."""
