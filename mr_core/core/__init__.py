"""The math: masked regression (:mod:`.regression`), compute backends (:mod:`.backend`) and the model
file format (:mod:`.modelfile`).  Knows nothing of faces or expression methods."""
