"""tipsd.model.net: the TIPSD-style network and its loss terms."""
