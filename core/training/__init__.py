"""Training Sketch Nets and Mask Nets the way the original project did, reproducibly on the CPU; checking them.

- :mod:`core.training.sketch` — :func:`~core.training.sketch.train_sketch`, pix2pix-like;
- :mod:`core.training.mask` — :func:`~core.training.mask.train_mask`, BCE on object masks;
- :mod:`core.training.loop` — what both share: argument checks, set-up, determinism, the loop,
  stage1/stage2 snapshots and their metadata;
- :mod:`core.training.samples` — training sets read into memory, seeded batches;
- :mod:`core.training.curves` — the training-curve CSV format and checkpoints placed on a curve;
- :mod:`core.training.evaluation` — the overfitting check (train vs held-out scores);
- :mod:`core.training.references` — what a Sketch Net's drawing of a real photo is scored against.

Typical use::

    result = train_mask(Path("sets/objects"), Path("runs/train1"), steps=2000)
    ckpt = load_checkpoint(result.stage2)
"""
