"""Sweeps: every combination of settings over a test set, computed once per cell and cached in the store.

The modules, from the spec to the app:

- :mod:`~core.sweeps.spec` — :class:`~core.sweeps.spec.SweepSpec`, the one strict model behind flags,
  TOML files, the form and resume;
- :mod:`~core.sweeps.cell` — the :class:`~core.sweeps.cell.Cell` (one image under one configuration)
  and its cache key;
- :mod:`~core.sweeps.plan` — a spec expanded into cells, grouped by image;
- :mod:`~core.sweeps.engine` — the cell engine: one image's cells, sharing masks and forwards;
- :mod:`~core.sweeps.outputs` — a computed cell's files, metrics and store fields;
- :mod:`~core.sweeps.session` — one run: open and claim it, stop signals, progress, the writer thread;
- :mod:`~core.sweeps.run` — ``run_sweep`` and the executors by name: :mod:`~core.sweeps.local` and
  :mod:`~core.sweeps.ray` (with :mod:`~core.sweeps.ray_pool` and :mod:`~core.sweeps.ray_worker`);
- :mod:`~core.sweeps.launcher` — detached workers for the app; :mod:`~core.sweeps.estimate` — time before and ETA;
- :mod:`~core.sweeps.results` — the public record of each cell; :mod:`~core.sweeps.bench` — ``workbench bench``.
"""
