"""`whisper-cli serve`: an HTTP server that speaks OpenAI's audio API.

Only `command` is imported by the CLI; everything that needs FastAPI, uvicorn or python-multipart
(app, routes, upload, server) is imported when the command runs, so `transcribe --help` pays nothing.

    command.py     the Typer command: parameters -> ServeConfig -> server.run
    config.py      ServeConfig and its checks (loopback without a key, workers x threads <= cores)
    fields.py      form fields -> TranscriptionJob (DecodeOptions checked by the CLI's own rules)
    upload.py      the multipart body streamed into a private temp folder, limits enforced while reading
    pool.py        models named on the command line, loaded on first use, unloaded when idle
    scheduler.py   the bounded queue in front of the decoding threads
    packer.py      short uploads that arrive together, read together in shared windows (packing.py)
    transcribe.py  one uploaded file -> Transcript (the per-file function, run in a worker thread)
    responses.py   Transcript -> OpenAI's response formats and stream events, via the writers
    app.py         the FastAPI app: lifespan, error shape, in-flight tracking, access log
    routes.py      the endpoints
    server.py      uvicorn with a graceful drain on SIGTERM
"""
