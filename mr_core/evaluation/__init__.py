"""Measuring a model: image metrics (:mod:`.metrics`) and the evaluation of photo pairs (:mod:`.evaluate`)."""
