"""HTTP text-to-speech service and its web page (FastAPI + uvicorn).

`create_app(voices, settings)` builds the ASGI app (`tacotron.serve.app`); `load_voices(checkpoints)` and
`BackgroundServer` live in `tacotron.serve.server`. Requests are split into sentences, validated with the
checkpoint's own text frontend, queued, and batched across concurrent requests (`tacotron.serve.batcher`).
Import the submodules directly: this package file stays free of fastapi so importing it is cheap.
"""

from tacotron.serve.settings import ServeSettings

__all__ = ["ServeSettings"]
