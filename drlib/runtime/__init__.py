"""Where and how the code runs: the Keras backend policy, the devices, the course's folders.

``drlib.runtime.backend`` chooses the Keras backend before anything imports Keras and holds the
one per-backend dispatch (input gradients); ``drlib.runtime.devices`` lists accelerators and sets
up data-parallel training; ``drlib.runtime.paths`` finds the data cache and the shipped models;
``drlib.runtime.atomic`` writes files whole or not at all, and ``drlib.runtime.storage`` checks
an output folder (writable, room on its disk) before long work starts.
Import the modules themselves: this package imports nothing, so that choosing the backend never
loads Keras.
"""
