"""Pretrained encoders: the export format, export from checkpoints, the registry, downloads, loading and
publishing. Modules: ``format`` (folder layout), ``export``/``card``/``export_cli``/``push`` (make and
publish), ``registry`` (published names), ``download``/``cache``/``archive``/``remote``/``hf`` (fetch),
``resolve``/``loader`` (``dynaflip.load``)."""
