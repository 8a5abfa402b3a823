"""``zoo bench SUITE``: train and measure every configuration of a suite, resumably.

Order of work: check the whole suite (keys, models, knobs, builders, dataset) and the
output directory, and only then train. Each finished run becomes one row of
results.csv, keyed by its run id; a rerun of the same command skips finished ids, so
an interrupted suite (Ctrl-C, kill -9, reboot) resumes where it stopped. A run that was
interrupted resumes from its last finished epoch (``resume/<run id>/``, a per-epoch backup,
removed when its row is written; ``zoo.resume``), with the result an uninterrupted run
gives; its TensorBoard logs are kept. Without a backup it restarts from scratch, its
partial logs removed first.

With ``strategy = "multi_worker"`` every worker runs ``zoo bench`` on the same suite: the chief
decides what is pending (its results directory), the others take that plan from it and train
each run with it, writing into a temporary directory they delete (``zoo.experiment.distribute``).
"""

from __future__ import annotations

import hashlib
import json
import shlex
import shutil
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from zoo.bench import results as res
from zoo.bench.lock import RunnerLock
from zoo.bench.spec import RunConfig, Suite, load_suite, validate_models
from zoo.experiment import dataset as ds_spec
from zoo.experiment.dataset import dataset_label, relative, subset_text

# What a seeded rerun of the same run measures differently on a busy machine.
TIMINGS = ("latency_ms", "latency_p90_ms", "throughput", "train_seconds", "train_images_per_second", "device")
RESULTS_CSV, RESULTS_MD, PARETO_PNG, ENV_JSON, SUITE_COPY, TB_DIR, CHECKPOINTS, RESUME_DIR = (
    "results.csv", "results.md", "pareto.png", "env.json", "suite.toml", "tb", "checkpoints", "resume")


def default_out(suite: Suite) -> Path:
    return Path("results") / suite.name


def load_data(suite: Suite, data_dir: str | None, download: bool = True):
    """Both splits of the suite's [dataset] and its parsed recipe."""
    splits = ds_spec.load_splits(suite.dataset, suite.path, data_dir, download=download)
    return splits.train, splits.val, suite.training


def reproduce_command(suite_arg: str, data_dir: str | None, only: str | None) -> str:
    """The command line that reruns this suite; paths relative to the working directory,
    so a published table does not carry one machine's absolute paths."""
    parts = ["zoo", "bench", relative(suite_arg)]
    if only:
        parts += ["--only", only]
    command = shlex.join(parts)
    if data_dir:
        command = f"ZOO_DATA_DIR={shlex.quote(relative(data_dir))} {command}"
    return command


def read_env(path: Path) -> dict[str, Any]:
    """A results directory's env.json; a damaged one raises naming the file, line and column."""
    try:
        record = json.loads(Path(path).read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}:{err.lineno}:{err.colno}: not valid JSON ({err.msg}); restore it from git, "
                         "or delete it (the runner writes a new one, and the run ids still tell which rows "
                         "belong to the suite)") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: cannot read the environment record: {err}") from None
    if not isinstance(record, dict):
        raise ValueError(f"{path}: not an environment record (a JSON object); restore or delete it")
    return record


class BenchRunner:
    """Holds the checked suite, its data and output paths; ``run()`` does the work."""

    def __init__(self, suite_path: str | Path, out: str | Path | None = None, data_dir: str | None = None,
                 only: str | None = None, progress: bool = True, retry_failed: bool = False):
        self.suite = load_suite(suite_path)
        self.retry_failed = retry_failed
        # --fill-checkpoints: retrain finished runs that have no checkpoint (rows from before
        # checkpoints were kept), so each row has a model to take away and to measure in
        # [run] deploy's formats; training is seeded, so on the same machine the new row
        # should repeat the old top-1 (a reproducibility check the header does not hide).
        self.fill_checkpoints = False
        self.suite_arg = str(suite_path)
        self.only = only
        self.progress = progress
        self.data_dir = ds_spec.data_dir(data_dir)
        self.out = Path(out) if out else default_out(self.suite)
        self.distribution = None  # zoo.experiment.distribute.Distribution; None: Keras' default
        self.configs = self.suite.configurations(only)
        if not self.configs:
            names = sorted({m["name"] for m in self.suite.models})
            raise ValueError(f"--only {only!r} matches no model of {self.suite.path}; its models: {', '.join(names)}")

    @property
    def command_data_dir(self) -> str | None:
        # The data directory matters only when the dataset is given by name.
        return None if ds_spec.names_folder(self.suite.dataset) else self.data_dir

    @property
    def command(self) -> str:
        return reproduce_command(self.suite_arg, self.command_data_dir, self.only)

    # --- checks before any training -----------------------------------------------

    def check_output(self, restart: bool) -> None:
        """Refuse to mix rows measured under another dataset/recipe into this directory."""
        csv_path, env_path = self.out / RESULTS_CSV, self.out / ENV_JSON
        rows = [] if restart else res.read_rows(csv_path)
        if not rows:
            return
        if env_path.exists():
            old = read_env(env_path).get("suite_fingerprint")
        else:  # the record was lost: run ids hash model, knobs, seed, dataset and recipe, so they tell
            planned = {c.run_id for c in self.suite.configurations()}
            old = self.suite.fingerprint if all(r["run_id"] in planned for r in rows) else None
        if old != self.suite.fingerprint:
            raise ValueError(
                f"{self.out} holds results of a different dataset/recipe than {self.suite.path} now "
                f"describes (suite fingerprint {str(old)[:12]} != {self.suite.fingerprint[:12]}); rerun with --restart "
                f"to discard them, or pass another --out")

    def clear_output(self) -> None:
        """``--restart``: forget every earlier result in this directory."""
        for name in (RESULTS_CSV, RESULTS_MD, PARETO_PNG, ENV_JSON, SUITE_COPY):
            (self.out / name).unlink(missing_ok=True)
        shutil.rmtree(self.out / TB_DIR, ignore_errors=True)
        shutil.rmtree(self.out / CHECKPOINTS, ignore_errors=True)
        shutil.rmtree(self.out / RESUME_DIR, ignore_errors=True)

    def prepare(self, download: bool = True):
        """Everything that can fail on bad input, in cheap-to-expensive order (a dry run: all of it,
        without downloading a dataset)."""
        self.train_ds, self.val_ds, self.recipe = load_data(self.suite, self.data_dir, download)
        self.costs = validate_models(self.suite, self.train_ds.num_classes, self.configs)

    # --- the plan ------------------------------------------------------------------

    def finished_ids(self) -> set[str]:
        """Run ids with a row: valid ones, and failed ones unless ``retry_failed``; with
        ``fill_checkpoints``, not the valid ones whose checkpoint file is missing."""
        rows = res.read_rows(self.out / RESULTS_CSV)
        return {r["run_id"] for r in rows if (not self.retry_failed or res.is_valid(r))
                and not (self.fill_checkpoints and res.is_valid(r) and not self.has_checkpoint(r))}

    def has_checkpoint(self, row: dict[str, Any]) -> bool:
        return bool(row.get("checkpoint")) and (self.out / row["checkpoint"]).is_file()

    def adopt_checkpoints(self) -> None:
        """``--fill-checkpoints``: a row without a checkpoint whose run already left one at its
        usual path (an interrupted fill, a row restored from git) takes it instead of retraining,
        if the file says it is that run with that top-1."""
        from zoo.checkpoint import read_info

        for row in res.read_rows(self.out / RESULTS_CSV):
            path = f"{CHECKPOINTS}/{row['run_id']}.keras"
            if not res.is_valid(row) or self.has_checkpoint(row) or not (self.out / path).is_file():
                continue
            try:
                info = read_info(self.out / path)
            except (ValueError, OSError):
                continue
            if info.get("run_id") == row["run_id"] and info.get("top1") is not None and row.get("top1") is not None \
                    and abs(info["top1"] - row["top1"]) < 1e-9:
                print(f"{row['run_id']}: its checkpoint {path} is already there (same run, same top-1): kept",
                      file=sys.stderr)
                res.append_row(self.out / RESULTS_CSV, {**row, "checkpoint": path})

    def describe_plan(self) -> str:
        done = self.finished_ids()
        lines = [f"suite {self.suite.name!r} ({self.suite.path}): {len(self.configs)} runs, "
                 f"{sum(c.run_id in done for c in self.configs)} already finished in {self.out}",
                 f"data: {self.train_ds.source} train={self.train_ds.num_examples} "
                 f"eval={self.val_ds.num_examples} images, {self.train_ds.num_classes} classes, "
                 f"{self.suite.image_size}px", ""]
        lines.append(f"{'run id':28s} {'seed':>4s} {'params(M)':>10s} {'MACs(M)':>10s}  configuration")
        for cfg in self.configs:
            cost = self.costs[(cfg.model, cfg.config)]
            status = "  (done)" if cfg.run_id in done else ""
            lines.append(f"{cfg.run_id:28s} {cfg.seed:4d} {cost['params'] / 1e6:10.3f} "
                         f"{cost['macs'] / 1e6:10.2f}  {cfg.label}{status}")
        return "\n".join(lines)

    # --- running -------------------------------------------------------------------

    def header(self) -> dict[str, str]:
        from zoo.experiment.deploy import describe
        from zoo.experiment.provenance import machine_label

        ds, recipe_items = self.train_ds, ", ".join(f"{k}={v}" for k, v in self.suite.recipe.items())
        subset = subset_text(self.suite.dataset.get("subset"))
        eval_subset = subset_text(self.suite.dataset.get("eval_subset"))
        return {
            "suite": f"`{relative(self.suite_arg)}` — {self.suite.description}".rstrip(" —"),
            "dataset": f"{dataset_label(self.suite.dataset['name'], ds.source)}: "
                       f"{self.suite.dataset['train_split']} {ds.num_examples} images "
                       f"(subset {subset}), {self.suite.dataset['eval_split']} {self.val_ds.num_examples} images "
                       f"(subset {eval_subset}), {ds.num_classes} classes, {self.suite.image_size}px, "
                       f"fingerprint `{ds.fingerprint}`",
            "schedule": recipe_items or "zoo.training defaults",
            "seeds": ", ".join(map(str, self.suite.run.seeds)),
            "latency": self.suite.run.timing.describe() if self.suite.run.latency else "not measured",
            **({"deploy": describe(self.suite.run.deploy, self.suite.run.calibration_images)}
               if self.suite.run.deploy else {}),
            "machine": machine_label(),
            # The table covers the whole suite, so the whole suite's command, even after --only.
            "reproduce": f"`{reproduce_command(self.suite_arg, self.command_data_dir, None)}`",
        }

    def write_env(self) -> None:
        from zoo.experiment.provenance import dataset_record, environment

        env_path = self.out / ENV_JSON
        record = environment()
        if self.distribution is not None and not self.distribution.is_default:
            record["distribution"] = self.distribution.record()
        previous = read_env(env_path) if env_path.exists() else None
        if previous and previous.get("suite_fingerprint") == self.suite.fingerprint:
            # Resumed: keep the first session's record, list every later one.
            previous.setdefault("resumed", []).append(
                {k: record[k] for k in ("time", "git_commit", "git_dirty", "cpu_model", "hostname", "tensorflow",
                                        "distribution") if k in record})
            record = previous
        else:
            record.update({
                "suite": self.suite.name,
                "suite_file": str(self.suite.path),
                "suite_sha256": self.suite.file_hash,
                "suite_fingerprint": self.suite.fingerprint,
                "command": self.command,
                "seeds": list(self.suite.run.seeds),
                "dataset": {"name": self.suite.dataset["name"], **dataset_record(self.train_ds, self.val_ds)},
            })
        res.write_atomic(env_path, json.dumps(record, indent=2, default=str) + "\n")
        res.write_atomic(self.out / SUITE_COPY, self.suite.text)

    def write_tb_experiment(self) -> None:
        from zoo.experiment import tensorboard as tb

        values: dict[str, list[Any]] = {"model": [], "seed": []}
        for cfg in self.suite.configurations():
            values["model"].append(cfg.model)
            values["seed"].append(cfg.seed)
            for k, v in cfg.knobs.items():
                values.setdefault(k, []).append(v)
        tb.write_experiment(self.out / TB_DIR, values, self.suite.run.deploy)

    def run_one(self, cfg: RunConfig) -> dict[str, Any]:
        from zoo.experiment.dataset import Splits
        from zoo.experiment.run import train_configuration
        from zoo.resume import BACKUP_NAME

        dist = self.distribution
        # Per-epoch resume is verified exact for one process only (zoo.resume counts the dataset
        # iterators fit makes per epoch; a strategy's fit makes them differently): a run under
        # a tf.distribute strategy restarts from scratch.
        run_dir = self.out / TB_DIR / cfg.run_id
        backup = self.backup_dir(cfg) if dist is None or dist.is_default else None
        if backup is None or not any(backup.rglob(BACKUP_NAME)):  # nothing to resume: leftovers go
            shutil.rmtree(run_dir, ignore_errors=True)
        chief = dist is None or dist.is_chief
        # Latency and deploy formats measure the trained model, no collective op: the chief's alone.
        timing = self.suite.run.timing if self.suite.run.latency and chief else None
        model, metrics = train_configuration(cfg, Splits(self.train_ds, self.val_ds), self.suite.recipe_for(cfg),
                                             self.suite.input_shape, log_dir=run_dir, progress=self.progress,
                                             latency=timing, weights_path=self.suite.weights_path(cfg),
                                             backup=backup, distribution=dist)
        if dist is not None and not dist.is_default:
            print(f"{cfg.run_id}: {dist.describe()}: {metrics.get('train_steps')} steps, "
                  f"weights sha256 {weights_digest(model)}", file=sys.stderr)
        if res.is_valid(metrics):
            metrics["checkpoint"] = self.save_checkpoint(cfg, model, metrics)
            if chief:
                metrics.update(self.measure_deploy(cfg, metrics["checkpoint"]))
        return self.record(cfg, metrics)

    def measure_deploy(self, cfg: RunConfig, checkpoint: str) -> dict[str, Any]:
        """The ``[run] deploy`` columns of a run, measured on its checkpoint (``zoo.experiment.deploy``)."""
        from zoo.experiment.dataset import Splits
        from zoo.experiment.deploy import measure_run

        run = self.suite.run
        return measure_run(self.out / checkpoint, run.deploy, Splits(self.train_ds, self.val_ds),
                           calibration_images=run.calibration_images, timing=run.timing,
                           label=f"{cfg.run_id} ({cfg.label} seed={cfg.seed})")

    def fill_deploy(self) -> None:
        """Rows finished before ``[run] deploy`` listed a format get it from their checkpoints
        (no retraining); rows without a checkpoint file are left as they are (the header says so)."""
        from zoo.experiment.deploy import missing

        formats = self.suite.run.deploy
        if not formats:
            return
        planned = {c.run_id: c for c in self.configs}
        todo = [r for r in res.read_rows(self.out / RESULTS_CSV)
                if r["run_id"] in planned and res.is_valid(r) and missing(r, formats)
                and r.get("checkpoint") and (self.out / r["checkpoint"]).is_file()]
        for row in todo:
            cfg = planned[row["run_id"]]
            print(f"{cfg.run_id}: {cfg.label} seed={cfg.seed}: measuring {', '.join(missing(row, formats))} "
                  "TFLite from its checkpoint", file=sys.stderr)
            measured = self.measure_deploy(cfg, row["checkpoint"])
            if measured:
                res.append_row(self.out / RESULTS_CSV, {**row, **measured})
        if todo:
            self.write_reports(res.read_rows(self.out / RESULTS_CSV))

    def record(self, cfg: RunConfig, metrics: dict[str, Any]) -> dict[str, Any]:
        """Commit a finished run: its row (configuration, costs, ``metrics``) appended to
        results.csv, its hparams to TensorBoard, the reports refreshed. Every runner, local
        or on a cluster, ends a run here."""
        row = {"run_id": cfg.run_id, "model": cfg.model, "config": cfg.config, "knobs": dict(cfg.knobs),
               "recipe_overrides": dict(cfg.recipe), "weights": cfg.weights, "seed": cfg.seed,
               "dataset": self.suite.dataset["name"], "image_size": self.suite.image_size,
               **self.costs[(cfg.model, cfg.config)], **metrics}
        row["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        if self.fill_checkpoints:  # a retrained row: say whether the seeded rerun repeated the old top-1
            old = next((r for r in res.read_rows(self.out / RESULTS_CSV) if r["run_id"] == cfg.run_id), None)
            if old is not None and old.get("top1") is not None and row.get("top1") is not None:
                same = abs(old["top1"] - row["top1"]) < 1e-9
                print(f"{cfg.run_id}: retrained for its checkpoint: top1 {100 * old['top1']:.2f}% -> "
                      f"{100 * row['top1']:.2f}% ({'the same' if same else 'a different'} result"
                      + ("; the table keeps the first run's timings" if same else "") + ")", file=sys.stderr)
                if same:  # the same experiment: its timings stay those of the session that published them
                    row.update({k: old.get(k) for k in TIMINGS})
        self._record(cfg, row, self.out / TB_DIR / cfg.run_id)
        return row

    def backup_dir(self, cfg: RunConfig) -> Path:
        """Where a run's per-epoch backup lives until its row is written (gitignored)."""
        return self.out / RESUME_DIR / cfg.run_id

    def checkpoint_path(self, cfg: RunConfig) -> str:
        return f"{CHECKPOINTS}/{cfg.run_id}.keras"

    def checkpoint_info(self, cfg: RunConfig, top1: float | None) -> dict[str, Any]:
        """What a checkpoint records about its run, besides its class names."""
        return {"run_id": cfg.run_id, "model": cfg.model, "knobs": dict(cfg.knobs),
                "recipe_overrides": dict(cfg.recipe), "weights": cfg.weights, "seed": cfg.seed,
                "suite": self.suite.name, "dataset": self.suite.dataset["name"], "top1": top1,
                "reproduce": self.command}

    def save_checkpoint(self, cfg: RunConfig, model, metrics: dict[str, Any]) -> str:
        """The trained model, 0-255 RGB in, with its class names: ``checkpoints/<run id>.keras``."""
        from zoo.checkpoint import save_checkpoint

        relative_path = self.checkpoint_path(cfg)
        save_checkpoint(model, self.out / relative_path, class_names=self.train_ds.class_names,
                        info=self.checkpoint_info(cfg, metrics.get("top1")))
        return relative_path

    def _record(self, cfg: RunConfig, row: dict[str, Any], run_dir: Path) -> None:
        from zoo.experiment import tensorboard as tb

        tb.write_run(run_dir, cfg.run_id, {"model": cfg.model, "seed": cfg.seed, **cfg.knobs,
                                              **{f"recipe.{k}": v for k, v in cfg.recipe.items()}}, row)
        rows = res.append_row(self.out / RESULTS_CSV, row)  # the commit point of a run
        shutil.rmtree(self.backup_dir(cfg), ignore_errors=True)  # its epochs are no longer needed
        self.write_reports(rows)

    def write_reports(self, rows: list[dict[str, Any]]) -> None:
        from zoo.experiment import tensorboard as tb

        title = f"zoo bench {self.suite.name}"
        header = self.header()
        planned = {c.run_id for c in self.suite.configurations()}
        # Rows of configurations the suite no longer lists (a grid or per-model recipe was
        # changed) stay in results.csv as history, but the table and plot show the suite as written.
        stale = [r for r in rows if r["run_id"] not in planned]
        rows = [r for r in rows if r["run_id"] in planned]
        finished = len({r["run_id"] for r in rows})
        header["runs"] = f"{finished} of {len(planned)} finished" + (
            "" if finished >= len(planned) else " (in progress: rerun the command above to finish the rest)")
        if self.suite.run.reuse:
            header["reused"] = ("rows whose run id (model, knobs, seed, data, recipe) is already in "
                                + ", ".join(f"`results/{n}`" for n in self.suite.run.reuse)
                                + " are copied from there, not retrained")
        if self.suite.run.deploy:
            from zoo.experiment.deploy import missing

            unmeasured = [r for r in rows if res.is_valid(r) and missing(r, self.suite.run.deploy)]
            if unmeasured:
                header["deploy"] += (f"; {len(unmeasured)} run(s) without these columns yet (trained before "
                                     "checkpoints were kept, or a format failed: see the run's log)")
        if stale:
            header["runs"] += (f"; results.csv also keeps {len(stale)} row(s) of configurations "
                               f"this suite no longer lists ({', '.join(sorted(r['run_id'] for r in stale))})")
        res.write_atomic(self.out / RESULTS_MD, res.render_markdown(rows, header, title))
        label = dataset_label(self.suite.dataset["name"], self.train_ds.source).split(" (")[0]
        png = res.plot_pareto(rows, f"{title}: {label}, {self.suite.image_size}px")
        res.write_atomic(self.out / PARETO_PNG, png)
        tb.write_pareto_image(self.out / TB_DIR, png, step=len(rows))

    def reading(self) -> str:
        """The one-line summary of the suite's table (configurations this run planned)."""
        planned = {c.run_id for c in self.suite.configurations()}
        rows = [r for r in res.read_rows(self.out / RESULTS_CSV) if r["run_id"] in planned]
        return res.reading(rows, self.train_ds.num_classes)

    def reuse_finished(self, pending: list[RunConfig]) -> list[RunConfig]:
        """Copy rows (and TensorBoard logs) of identical runs from the suites in ``[run] reuse``.

        Returns what is still pending. A run id hashes model, knobs, seed, dataset and recipe,
        so an equal id in a sibling results directory is the same experiment, already done.
        """
        reused = False
        for name in self.suite.run.reuse:
            other = self.out.parent / name
            rows = {r["run_id"]: r for r in res.read_rows(other / RESULTS_CSV)}
            still = []
            for cfg in pending:
                row = rows.get(cfg.run_id)
                if row is None:
                    still.append(cfg)
                    continue
                src, dst = other / TB_DIR / cfg.run_id, self.out / TB_DIR / cfg.run_id
                if src.is_dir():
                    shutil.rmtree(dst, ignore_errors=True)
                    shutil.copytree(src, dst)
                if row.get("checkpoint") and (other / row["checkpoint"]).is_file():
                    (self.out / CHECKPOINTS).mkdir(parents=True, exist_ok=True)
                    shutil.copy2(other / row["checkpoint"], self.out / row["checkpoint"])
                res.append_row(self.out / RESULTS_CSV, {**row, "config": cfg.config, "knobs": dict(cfg.knobs),
                                                        "recipe_overrides": dict(cfg.recipe)})
                reused = True
                print(f"{cfg.run_id}: {cfg.label} seed={cfg.seed}: reused from {relative(str(other))}",
                      file=sys.stderr)
            pending = still
        if reused:  # the table and plot once, not once per copied row
            self.write_reports(res.read_rows(self.out / RESULTS_CSV))
        return pending

    def agree_on_plan(self, pending: list[RunConfig]) -> list[RunConfig]:
        """Multi-worker: every worker trains the runs the chief found pending, in the same order
        (each run is a sequence of collective ops all workers must join). First every worker
        checks that it read the same suite and data as the chief, so a mismatch stops them all
        with one message instead of leaving the others waiting."""
        dist = self.distribution
        if dist is None or dist.worker is None:
            return pending
        key = f"{self.suite.fingerprint} {self.train_ds.fingerprint} {self.val_ds.fingerprint}"
        mine = [int(hashlib.sha256(key.encode()).hexdigest()[:13], 16), len(self.configs)]
        differs = dist.broadcast(mine) != mine
        if dist.all_sum([int(differs)])[0]:
            raise ValueError("the workers of this multi_worker run do not share one suite and its data (suite "
                             "fingerprint, dataset fingerprints, number of runs): give every worker the same suite "
                             "file, --only and data" + (" (this worker differs from the chief)" if differs else ""))
        planned = {c.run_id for c in pending}
        chosen = dist.broadcast([int(c.run_id in planned) for c in self.configs])
        return [c for c, take in zip(self.configs, chosen) if take]

    def train_pending(self, pending: list[RunConfig], bar) -> None:
        """Train ``pending`` one after the other in this process (``zoo.bench.cluster`` has the
        runner that spreads them over a Ray cluster)."""
        for cfg in pending:
            bar.set_postfix_str(f"{cfg.label} seed={cfg.seed}")
            row = self.run_one(cfg)
            bar.update(1)
            self.report_row(bar, cfg, row)

    @staticmethod
    def report_row(bar, cfg: RunConfig, row: dict[str, Any], where: str = "") -> None:
        if not res.is_valid(row):
            bar.write(f"{cfg.run_id}: {cfg.label} seed={cfg.seed} FAILED ({row['status']}): {row['reason']}{where}")
            return
        bar.write(f"{cfg.run_id}: {cfg.label} seed={cfg.seed} top1={100 * row['top1']:.2f}% "
                  f"macs={row['macs'] / 1e6:.2f}M" +
                  (f" latency={row['latency_ms']:.2f}ms" if row.get("latency_ms") is not None else "") + where)

    def run(self) -> list[dict[str, Any]]:
        from tqdm.auto import tqdm

        self.write_env()
        self.write_tb_experiment()
        res.add_structured_knobs(self.out / RESULTS_CSV, self.suite.configurations())
        if self.fill_checkpoints:
            self.adopt_checkpoints()
        done = self.finished_ids()
        pending = [c for c in self.configs if c.run_id not in done]
        if self.distribution is None or self.distribution.is_chief:
            pending = self.reuse_finished(pending)
        pending = self.agree_on_plan(pending)
        self.fill_deploy()
        bar = tqdm(total=len(self.configs), initial=len(self.configs) - len(pending), unit="run",
                   desc=f"zoo bench {self.suite.name}", disable=not self.progress, file=sys.stderr,
                   dynamic_ncols=True)
        try:
            self.train_pending(pending, bar)
        finally:
            bar.close()
        rows = res.read_rows(self.out / RESULTS_CSV)
        if rows and not pending:  # nothing new ran: refresh the reports (header may have changed)
            self.write_reports(rows)
        planned = {c.run_id for c in self.configs}
        failed = [r for r in res.failed_rows(rows) if r["run_id"] in planned]
        if failed:
            print(f"zoo bench: {len(failed)} run(s) failed and are kept out of the table's ranking and Pareto "
                  "fronts: " + "; ".join(f"{r['run_id']} ({r['reason']})" for r in failed)
                  + ". Rerun with --retry-failed to train them again.", file=sys.stderr)
        return rows


def weights_digest(model) -> str:
    """sha256 of every weight's bytes, in order: equal on every worker of a multi-worker run."""
    digest = hashlib.sha256()
    for w in model.get_weights():
        digest.update(w.tobytes())
    return digest.hexdigest()[:16]


def run_suite(suite_path: str | Path, out: str | Path | None = None, data_dir: str | None = None,
              only: str | None = None, dry_run: bool = False, restart: bool = False,
              progress: bool = True, retry_failed: bool = False, ray: str | None = None,
              strategy: str | None = None, fill_checkpoints: bool = False) -> BenchRunner:
    """Check everything, then (unless ``dry_run``) run what is not finished yet.

    ``ray``: None trains here, one run after the other; a string (``""``: the cluster
    ``ray.init()`` finds, else a new local one; or an address) trains every pending run as a
    task on that Ray cluster (``zoo.bench.cluster``). ``strategy`` overrides the suite's
    ``[run] strategy`` (``zoo.experiment.distribute``). Returns the runner: ``.out`` is the
    results directory, ``.describe_plan()`` the plan.
    """
    from zoo.experiment.distribute import (
        check_strategy,
        make_distribution,
        read_tf_config,
    )

    if strategy is not None:
        check_strategy(strategy, "--strategy")
    if ray is None:
        runner = BenchRunner(suite_path, out, data_dir, only, progress, retry_failed)
    else:
        from zoo.bench.cluster import RayBenchRunner

        runner = RayBenchRunner(suite_path, out, data_dir, only, progress, retry_failed, address=ray or None)
    runner.fill_checkpoints = fill_checkpoints
    strategy = strategy or runner.suite.run.strategy
    if ray is not None and strategy != "auto":
        raise ValueError(f"--ray trains each run as one task on one node; strategy {strategy!r} spreads one run "
                         "over several devices or processes; use one of them (--strategy auto with --ray)")
    if dry_run:  # every check of a real run short of training (and of taking the lock)
        if strategy == "multi_worker":
            read_tf_config()  # checked; the strategy itself would wait for the other workers
        runner.check_output(restart)
        runner.prepare(download=False)
        return runner
    if ray is None:  # before the data: the first TensorFlow op (MultiWorkerMirroredStrategy must come first)
        runner.distribution = make_distribution(strategy)
    if runner.distribution is not None and not runner.distribution.is_chief:
        runner.out = Path(tempfile.mkdtemp(prefix=f"zoo-worker{runner.distribution.worker.index}-"))
        try:
            runner.prepare()
            runner.run()
        finally:
            shutil.rmtree(runner.out, ignore_errors=True)
        return runner
    with RunnerLock(runner.out):
        runner.check_output(restart)
        runner.prepare()
        if restart:
            runner.clear_output()  # only after the new suite passed every check
        runner.run()
    return runner
