"""Images, checkpoints and cells: register, finish, read back."""

from __future__ import annotations

from core.store.schema import IMAGE_ORDER_INDEX, now

# The cell columns that name output files (relative to the store's folder); the file route serves only these.
FILE_COLUMNS = ("sketch_path", "thumb_path", "cropped_path", "mask_path", "npz_path", "svg_path", "gif_path",
                "vector_path")
# The cell columns that hold its settings (what the Compare page's axes are made of).
CONFIG_COLUMNS = ("method", "sketch_checkpoint", "mask_checkpoint", "resolution", "mask_mode", "softctr", "gamma",
                  "merge", "background", "precision", "vectorize", "profile", "baseline_params")


class CellRecords:
    """Images, checkpoints and cells (mixed into :class:`core.store.store.Store`)."""

    def upsert_images(self, rows: list[dict]) -> None:
        """Record images by content hash, updating those already known."""
        with self.write() as db:
            db["images"].upsert_all(rows, pk="sha256")

    def upsert_checkpoint(self, row: dict) -> None:
        """Record a checkpoint by content hash; a known one only gets its new path and label."""
        row = dict(row, added_at=now())
        with self.write() as db:
            if not db["checkpoints"].count_where("sha256 = ?", [row["sha256"]]):
                db["checkpoints"].insert(row, pk="sha256")
            else:
                db["checkpoints"].update(row["sha256"], {"path": row["path"], "label": row["label"]})

    def checkpoints(self) -> list[dict]:
        """Every recorded checkpoint, by file name."""
        return self.query("SELECT * FROM checkpoints ORDER BY file_name")

    # ------------------------------------------------------------------ cells

    def register_cells(self, sweep_id: int, cells: list[dict]) -> dict[str, dict]:
        """Insert missing cells as pending, link all to the sweep, and return ``key -> row``."""
        with self.write() as db:
            for start in range(0, len(cells), 500):
                chunk = cells[start : start + 500]
                db["cells"].insert_all(
                    [dict(c, status="pending", created_at=now()) for c in chunk], ignore=True, batch_size=500
                )
            keys = [c["cell_key"] for c in cells]
            rows = self._cells_by_key(keys)
            self.conn.executemany(
                "INSERT OR IGNORE INTO sweep_cells (sweep_id, cell_id, position) VALUES (?, ?, ?)",
                [(sweep_id, rows[k]["id"], i) for i, k in enumerate(keys)],
            )
        return rows

    def _cells_by_key(self, keys: list[str]) -> dict[str, dict]:
        return {row["cell_key"]: row for row in self.query_in("SELECT * FROM cells WHERE cell_key IN ({marks})", keys)}

    def finish_cells(self, updates: list[tuple[str, dict]]) -> None:
        """Record finished cells (``(cell_key, fields)`` pairs) in one transaction."""
        if not updates:
            return
        with self.write():
            for key, fields in updates:
                fields = dict(fields, finished_at=now())
                sets = ", ".join(f"[{k}] = ?" for k in fields)
                self.conn.execute(f"UPDATE cells SET {sets} WHERE cell_key = ?", [*fields.values(), key])

    def results(self, sweep_id: int | None = None) -> list[dict]:
        """One record per cell (of a sweep, or all), with checkpoint labels and absolute paths."""
        if sweep_id is None:
            rows = self.query("SELECT * FROM cells ORDER BY id")
        else:
            rows = self.query(
                "SELECT c.*, sc.sweep_id AS in_sweep FROM sweep_cells sc JOIN cells c ON c.id = sc.cell_id "
                "WHERE sc.sweep_id = ? ORDER BY sc.position",
                (sweep_id,),
            )
            for r in rows:
                r["computed_in_sweep"] = r["sweep_id"]
                r["sweep_id"] = r.pop("in_sweep")
        return rows

    def cell(self, cell_id: int) -> dict | None:
        """One cell's row by id, or None."""
        rows = self.query("SELECT * FROM cells WHERE id = ?", (cell_id,))
        return rows[0] if rows else None

    def cell_spec_json(self, cell_id: int) -> str | None:
        """The spec (``sweeps.spec_json``) of the sweep that computed a cell, or None when unknown."""
        rows = self.query("SELECT s.spec_json FROM cells c JOIN sweeps s ON s.id = c.sweep_id WHERE c.id = ?",
                          (cell_id,))
        return rows[0]["spec_json"] if rows else None

    def cells_by_id(self, cell_ids: list[int]) -> list[dict]:
        """The cells with these ids (any order; unknown ids are left out)."""
        return self.query_in("SELECT * FROM cells WHERE id IN ({marks})", list(cell_ids))

    def finished_cell_keys(self, keys: list[str]) -> set[str]:
        """Which of these cell keys the store holds as done or failed (cached: a sweep will not compute them)."""
        return {r["cell_key"] for r in self.query_in(
            "SELECT cell_key FROM cells WHERE status IN ('done', 'failed') AND cell_key IN ({marks})", keys)}

    def measured_seconds(self) -> list[dict]:
        """Mean seconds of done cells per (method, sketch_sha256, resolution, device), with how many were timed."""
        return self.query(
            "SELECT method, sketch_sha256, resolution, device, avg(seconds) AS seconds, count(*) AS cells "
            "FROM cells WHERE status = 'done' AND seconds IS NOT NULL "
            "GROUP BY method, sketch_sha256, resolution, device"
        )

    def image_file(self, sha256: str) -> str | None:
        """Where the input image with this content hash was read from, as recorded (None when unknown)."""
        rows = self.query("SELECT path FROM images WHERE sha256 = ?", (sha256,))
        return rows[0]["path"] if rows else None

    def image_paths(self) -> list[str]:
        """Every input image path the store has seen (distinct)."""
        return [r["path"] for r in self.query("SELECT DISTINCT path FROM images")]

    # ------------------------------------------------------------------ served files and pages

    def references_file(self, stored: str) -> bool:
        """Whether a cell records ``stored`` (a path relative to the store's folder) as one of its output files.

        A cell's own files (``cells/<k2>/<key>/...``) are found through the cell
        key's index; any other path (a shared mask) by a scan that stops at the
        first match.
        """
        columns = ", ".join(FILE_COLUMNS)
        parts = stored.split("/")
        if len(parts) == 4 and parts[0] == "cells":
            rows = self.query(f"SELECT {columns} FROM cells WHERE cell_key = ?", (parts[2],))
            return any(stored in row.values() for row in rows)
        return bool(self.query(f"SELECT 1 FROM cells WHERE ? IN ({columns}) LIMIT 1", (stored,)))

    def image_page(self, sweep_id: int | None, limit: int, offset: int = 0,
                   test_set: str | None = None) -> tuple[list[dict], int]:
        """One page of a sweep's images (the Compare grid's rows) and how many images there are in all.

        Images of sweep ``sweep_id`` (None: of the whole store), of one test
        set when given (``""`` for none), in the grid's order (test set, image
        name, sha256), as ``{"image_sha256", "image_name", "test_set", "cells"}``
        dicts. ``LIMIT``/``OFFSET`` run over the index on that order, so a page
        costs about the same on a large store as on a small one.
        """
        return self.config_image_page(sweep_id, None, limit, offset, test_set)

    def image_cells(self, sweep_id: int | None, image_shas: list[str]) -> list[dict]:
        """The cells of these images (in sweep ``sweep_id``, or all), shaped as :meth:`results` returns them."""
        if not image_shas:
            return []
        marks = ",".join("?" * len(image_shas))
        if sweep_id is None:
            return self.query(f"SELECT * FROM cells WHERE image_sha256 IN ({marks}) ORDER BY id", image_shas)
        rows = self.query(
            "SELECT c.*, sc.sweep_id AS in_sweep FROM cells c JOIN sweep_cells sc ON sc.cell_id = c.id "
            f"WHERE sc.sweep_id = ? AND c.image_sha256 IN ({marks}) ORDER BY sc.position",
            (sweep_id, *image_shas),
        )
        for r in rows:
            r["computed_in_sweep"] = r["sweep_id"]
            r["sweep_id"] = r.pop("in_sweep")
        return rows

    @staticmethod
    def _image_filter(sweep_id: int | None, test_set: str | None) -> tuple[str, tuple]:
        """The WHERE clause (over ``cells c``) that keeps the cells of a sweep and test set."""
        clauses, params = ["1"], []
        if sweep_id is not None:
            clauses.append("EXISTS (SELECT 1 FROM sweep_cells sc WHERE sc.sweep_id = ? AND sc.cell_id = c.id)")
            params.append(sweep_id)
        if test_set is not None:
            clauses.append("c.test_set IS ?" if test_set else "(c.test_set IS NULL OR c.test_set = '')")
            if test_set:
                params.append(test_set)
        return " AND ".join(clauses), tuple(params)

    def cell_count(self) -> int:
        """How many cells the store holds (any status)."""
        return self.query("SELECT count(*) AS n FROM cells")[0]["n"]

    # ------------------------------------------------------------------ the Compare page's facts and pages

    def cells_stamp(self) -> tuple[int, int | None]:
        """``(count, last id)`` of the cells: changes whenever cells are added (cheap: no table scan).

        Cells finish only within sweeps, so with the sweeps' done/failed counts
        (:meth:`sweeps`) it tells when facts cached about the cells go stale.
        """
        row = self.query("SELECT count(*) AS n, max(id) AS last FROM cells")[0]
        return row["n"], row["last"]

    def test_sets(self, sweep_id: int | None) -> list[str]:
        """The distinct test sets of a sweep's cells (None: of the whole store), ``""`` for none, sorted."""
        where, params = self._image_filter(sweep_id, None)
        rows = self.query(f"SELECT DISTINCT coalesce(c.test_set, '') AS t FROM cells c WHERE {where}", params)
        return sorted(r["t"] for r in rows)

    def cell_configs(self, sweep_id: int | None, test_set: str | None = None) -> list[dict]:
        """The distinct settings (:data:`CONFIG_COLUMNS`) of a sweep's cells, each with its ``cells`` and ``images``.

        One row per combination (a handful, however many cells): what the
        Compare page's axis, fixed-value and preset choices are made from,
        without reading every cell.
        """
        where, params = self._image_filter(sweep_id, test_set)
        columns = ", ".join(f"c.{name}" for name in CONFIG_COLUMNS)
        return self.query(
            f"SELECT {columns}, count(*) AS cells, count(DISTINCT c.image_sha256) AS images "
            f"FROM cells c WHERE {where} GROUP BY {columns}",
            params,
        )

    def config_image_page(self, sweep_id: int | None, configs: list[dict] | None, limit: int, offset: int = 0,
                          test_set: str | None = None, count: bool = True) -> tuple[list[dict], int | None]:
        """:meth:`image_page` over only the cells with one of ``configs``' settings (None: any settings).

        ``count=False`` skips counting every image (the total is then None).
        """
        where, params = self._image_filter(sweep_id, test_set)
        match, more = self._config_filter(configs)
        where, params = f"{where} AND {match}", (*params, *more)
        rows = self.query(
            "SELECT c.image_sha256, c.image_name, c.test_set, count(*) AS cells "
            f"FROM cells c INDEXED BY {IMAGE_ORDER_INDEX} WHERE {where} "
            "GROUP BY c.test_set, c.image_name, c.image_sha256 "
            "ORDER BY c.test_set, c.image_name, c.image_sha256 LIMIT ? OFFSET ?",
            (*params, int(limit), max(0, int(offset))),
        )
        if not count:
            return rows, None
        total = self.query(f"SELECT count(DISTINCT c.image_sha256) AS n FROM cells c WHERE {where}", params)[0]["n"]
        return rows, total

    @staticmethod
    def _config_filter(configs: list[dict] | None) -> tuple[str, tuple]:
        """The WHERE clause (over ``cells c``) that keeps cells with one of ``configs``' settings."""
        if configs is None:
            return "1", ()
        if not configs:
            return "0", ()
        one = "(" + " AND ".join(f"c.{name} IS ?" for name in CONFIG_COLUMNS) + ")"
        params = tuple(config.get(name) for config in configs for name in CONFIG_COLUMNS)
        return "(" + " OR ".join([one] * len(configs)) + ")", params

    def images_of_cells(self, cell_ids: list[int]) -> set[str]:
        """The image hashes of these cells."""
        return {r["image_sha256"] for r in self.query_in(
            "SELECT DISTINCT image_sha256 FROM cells WHERE id IN ({marks})", cell_ids)}

    def sweep_states(self) -> list[dict]:
        """Each sweep's id, status and finish time, without counting its cells (cheap: a cache key)."""
        return self.query("SELECT id, status, finished_at FROM sweeps ORDER BY id")
