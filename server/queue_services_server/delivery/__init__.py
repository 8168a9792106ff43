"""The delivery layer: workers, dispatch, pacing, providers, callbacks and retention."""
