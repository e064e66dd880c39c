"""Studies: finite networks measured against their infinite-width limits (a layer above ``limits/``).

Every study is a harness: a loop over a *unit of work* that runs one point of a sweep from a
picklable frozen config and returns a JSON-ready dict, so a point can be handed to a worker or
resumed on its own.

* :mod:`.converge` -- finite muP nets vs the feature-learning limits (unit :func:`.converge.run_point`);
* :mod:`.contrast` -- muP vs NTP feature and kernel movement (unit :func:`.contrast.contrast_point`);
* :mod:`.kernels` -- finite nets vs the kernel-regime limit (unit :func:`.kernels.kernel_point`).
"""
