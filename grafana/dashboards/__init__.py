"""One module per dashboard; each exposes ``FILE`` (its JSON file name) and ``build()``."""
