"""Measuring a model: image metrics (:mod:`.metrics`), the evaluation of photo pairs (:mod:`.evaluate`), its
summary, report and contact sheet (:mod:`.report`), and the face editor's evaluation (:mod:`.editor`)."""
