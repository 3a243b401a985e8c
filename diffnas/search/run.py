"""One search run: a plain object that advances one epoch at a time.

``SearchRun(config)`` loads the data, builds the space, supernet, sampler, optimisers, schedules
and every random stream from ``config["seed"]``. ``step()`` trains one epoch and returns that
epoch's record (the schema's epoch columns). The architecture state — α, the op mask after
shrinking, the sampler and the auxiliary skip — is one object, ``run.arch``
(:mod:`diffnas.search.architecture`); ``save`` / ``load`` write and read the whole run
(:mod:`diffnas.search.checkpoint`), so a run resumed in a fresh process continues bit for bit.

One epoch, per step (weight batch, α batch), alternating as in DARTS:
1. α step (after the warm-up epochs): loss_α = CE(α split) + entropy term + L2 term + β-decay term
   (``beta_weight``) + ``resource_weight``·expected normalised cost; first order or the unrolled second-order
   hypergradient (:mod:`diffnas.search.bilevel`); α's gradient clipped (:mod:`diffnas.search.clipping`); Adam.
2. weight step: CE(weight split) with freshly sampled op weights; SGD + momentum, cosine lr.
In both steps the op weights carry DARTS-'s decaying auxiliary skip when ``aux_skip`` > 0.
Then evaluation on the α split: ``val_acc`` with the sampler's eval weights, ``discrete_val_acc``
with the discretised architecture and the same shared weights (batch-statistics BatchNorm, see
:mod:`diffnas.model.ops`, so ``gap`` ≈ 0 at one-hot α).

A non-finite loss or α ends the run with status ``diverged`` (its record is still returned, with
NaN for what could not be measured).
"""

from __future__ import annotations

import math
import random
import time
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from diffnas.config import SearchConfig
from diffnas.data.augment import augment
from diffnas.data.cache import load_dataset_cached
from diffnas.model.perf import CompiledLoss, PerfOptions, Scaler, keep_freed_memory
from diffnas.model.spaces import build_space
from diffnas.model.supernet import Supernet
from diffnas.results.records import trial_row
from diffnas.search import checkpoint
from diffnas.search.architecture import Architecture
from diffnas.search.bilevel import momentum_buffers, unrolled_alpha_grad
from diffnas.search.clipping import build_clipper
from diffnas.search.device import resolve_device
from diffnas.search.early_stopping import EarlyStopper
from diffnas.search.epoch_profile import EpochProfile
from diffnas.search.grad_diagnostics import AlphaGradLog
from diffnas.search.hessian import dominant_eigenvalue
from diffnas.search.memory import is_memory_error
from diffnas.search.metrics import (
    grad_norm_tensor,
)
from diffnas.search.optimizers import build_optimizers
from diffnas.search.provenance import provenance
from diffnas.search.record import measure_epoch
from diffnas.search.regularizers import (
    beta_decay_term,
    beta_decay_weight,
    dirichlet_kl_term,
    entropy_term,
    l2_term,
    resource_term,
)
from diffnas.search.samplers import build_sampler
from diffnas.search.schedules import TemperatureSchedule
from diffnas.selection.proxies import RunProxy


class SearchRun:
    """A DARTS-style search with one sampler setup, advanced with :meth:`step`."""

    def __init__(self, config: SearchConfig, device: str | None = None, threads: int | None = None) -> None:
        self.config = config
        self.threads = int(threads or config["threads"])
        torch.set_num_threads(self.threads)
        self.device = resolve_device(device or config["device"])
        if self.device.type == "cpu":
            keep_freed_memory()  # freed activation buffers stay in the heap (diffnas.model.perf)
        else:  # cuDNN picks the fastest convolution algorithm for the (fixed) batch shapes
            torch.backends.cudnn.benchmark = True
        seed = int(config["seed"])
        random.seed(seed)
        np.random.seed(seed % (2**32))
        torch.manual_seed(seed)

        self.data = load_dataset_cached(  # once per process and data config (diffnas.data.cache)
            config["dataset"], subset=config["data.subset"], resolution=config["data.resolution"],
            data_dir=config["data.dir"], seed=seed, test_fraction=config["data.test_fraction"],
        )
        self._move_data()
        self.space = build_space(config["space"], config["ops"])
        init_gen = torch.Generator().manual_seed(seed)
        self.model = Supernet(self.space, self.data.in_channels, self.data.num_classes,
                              config["model.channels"], config["model.cells_per_stage"],
                              config["model.stages"]).to(self.device)
        self.perf = PerfOptions.from_config(config)
        self.model.configure(fused=self.perf.fused, channels_last=self.perf.channels_last,
                             native=self.perf.kernels)
        self.loss_fn = CompiledLoss(self.model, self.device, self.perf)
        self.profile = EpochProfile(self.device)
        alpha0 = config["optim.alpha_init_std"] * torch.randn(self.space.n_edges, self.space.n_ops,
                                                              generator=init_gen)
        sampler = build_sampler(config["sampler"], noise_std=config["sampler_options.noise_std"],
                                dropout=config["sampler_options.dropout"],
                                hard_forward=config["sampler_options.hard_forward"])
        self.arch = Architecture(self.space, sampler, alpha0.to(self.device),
                                 torch.Generator(device=self.device).manual_seed(seed + 1), config["aux_skip"])
        self.alpha = self.arch.alpha  # the parameter itself: α's optimiser and the tests read it here
        self.batch_gen = torch.Generator().manual_seed(seed + 2)
        self.augment_gen = torch.Generator(device=self.device).manual_seed(seed + 3)  # crops and flips

        self.w_params = list(self.model.parameters())
        self.w_opt, self.w_sched, self.a_opt = build_optimizers(config, self.w_params, self.alpha)
        self.w_scaler, self.a_scaler = Scaler(self.device, self.perf.amp), Scaler(self.device, self.perf.amp)
        self.clipper = build_clipper(config["clip.mode"], config["clip.value"], config["clip.window"])
        self.batch_size = config["data.batch_size"]
        self.steps_per_epoch = max(1, math.ceil(len(self.data.y_weights) / self.batch_size))
        per_step = config["temperature.per"] == "step"
        self.schedule = TemperatureSchedule(
            config["temperature.schedule"], config["temperature.t0"], config["temperature.t_min"],
            total=config["epochs"] * (self.steps_per_epoch if per_step else 1),
            n_steps=config["temperature.n_steps"],
        )
        self.param_costs = self.model.param_costs()
        input_shape = tuple(self.data.x_weights.shape[1:])
        costs = self.param_costs if config["resource"] == "params" else self.model.flop_costs(input_shape)
        self.costs = costs.to(self.device, torch.float32)
        self.truth = None
        if self.space.name == "nb201":  # the user's table, else the NATS-Bench table shipped with diffnas
            from diffnas.selection.truth import TruthTable

            self.truth = TruthTable(config["truth.table"], config.truth_column)

        self.proxy = RunProxy(config, self.space, self.data, self.device)  # the ranking metric of a cell
        # best_cell.chooser: the proxy that picks the handed-back cell among a settled run's last half
        chooser = config["best_cell.chooser"]
        self.chooser: RunProxy | None
        if chooser == "none":
            self.chooser = None
        elif chooser == self.proxy.name:
            self.chooser = self.proxy  # one cache for both
        else:
            self.chooser = RunProxy(config, self.space, self.data, self.device, name=chooser)

        self.stopper = EarlyStopper(config)
        self.epoch = 0
        self.status: str | None = None
        self.stop_reason: str | None = None
        self.prev_choice: torch.Tensor | None = None  # discretised architecture (genotype)
        self.prev_argmax: torch.Tensor | None = None  # argmax op per edge
        self.records: list[dict[str, Any]] = []
        self.wall_s = 0.0
        self.grad_log = AlphaGradLog()  # this epoch's α gradients (grad_dilution, alpha_grad_noise)
        self.memory_note: str | None = None  # the memory limit a sweep trial runs under, for its stop reason

    # -- helpers ------------------------------------------------------------------------------
    def _move_data(self) -> None:
        d = self.data
        for name in ("x_weights", "y_weights", "x_alpha", "y_alpha", "x_test", "y_test"):
            setattr(d, name, getattr(d, name).to(self.device))

    @property
    def done(self) -> bool:
        return self.status is not None

    def temperature(self, step: int) -> float:
        if self.config["temperature.per"] == "step":
            return self.schedule.value(self.epoch * self.steps_per_epoch + step)
        return self.schedule.value(self.epoch)

    def _augmented(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` with the dataset's training augmentation (NB201's random crop + flip, batched on the device:
        :func:`diffnas.data.augment.augment`); as it is for datasets without one."""
        if self.data.augment_padding is None:
            return x
        return augment(x, self.data.augment_padding, self.augment_gen, fill=self.data.augment_fill)

    def _batches(self, n: int) -> torch.Tensor:
        return torch.randperm(n, generator=self.batch_gen)

    def _alpha_loss_terms(self) -> torch.Tensor:
        """α's regularisers, over the kept ops only once the edges are pruned (diffnas.search.pruning)."""
        c, arch = self.config, self.arch
        alpha = arch.masked(self.alpha)
        reg = entropy_term(alpha, c["entropy_weight"]) + l2_term(arch.kept(self.alpha), c["l2_weight"])
        if c["beta_weight"] > 0:
            reg = reg + beta_decay_term(alpha, beta_decay_weight(c["beta_weight"], self.epoch, c["epochs"]))
        if c["kl_weight"] > 0:
            reg = reg + dirichlet_kl_term(self.alpha, c["kl_weight"], arch.op_mask if arch.pruned else None)
        if c["resource_weight"] > 0:
            reg = reg + resource_term(alpha, self.costs, c["resource_weight"])
        return reg

    def _maybe_prune(self) -> None:
        """DrNAS's progressive shrinking: once ``prune.epoch`` epochs are done, keep ``prune.keep`` ops per edge."""
        at = self.config["prune.epoch"]
        if at and not self.arch.pruned and self.epoch >= at:
            self.arch.prune(self.config["prune.keep"])

    def _train_sample(self, alpha: torch.Tensor, temperature: float):
        return self.arch.train_sample(alpha, temperature, self.epoch, self.config["epochs"])

    def _forward_loss(self, x: torch.Tensor, y: torch.Tensor, weights, chosen=None,
                      hard_forward: str = "chosen") -> tuple[torch.Tensor, torch.Tensor]:
        return self.loss_fn(x, y, weights, chosen, hard_forward)

    # -- one epoch ----------------------------------------------------------------------------
    def _alpha_step(self, xa, ya, xw, yw, temperature: float) -> tuple[float, bool]:
        self.a_opt.zero_grad(set_to_none=True)
        sample = self._train_sample(self.alpha, temperature)
        if self.config["order"] == "second":
            train_sample = self._train_sample(self.alpha, temperature)
            hyper, _ = unrolled_alpha_grad(
                self.w_params, self.alpha,
                train_loss=lambda: self._forward_loss(xw, yw, train_sample.weights, train_sample.chosen,
                                                      train_sample.hard_forward)[0],
                val_loss=lambda: self._forward_loss(xa, ya, sample.weights, sample.chosen, sample.hard_forward)[0],
                xi=self.w_opt.param_groups[0]["lr"], momentum=self.config["optim.w_momentum"],
                weight_decay=self.config["optim.w_weight_decay"],
                momentum_buffers=momentum_buffers(self.w_opt, self.w_params),
            )
            reg = self._alpha_loss_terms()
            reg.backward()
            self.alpha.grad = hyper + (self.alpha.grad if self.alpha.grad is not None else 0.0)
        else:
            loss, _ = self._forward_loss(xa, ya, sample.weights, sample.chosen, sample.hard_forward)
            self.a_scaler.scale(loss + self._alpha_loss_terms()).backward()
        for p in self.w_params:  # α's loss must not leave gradients on the weights
            p.grad = None
        self.a_scaler.unscale_(self.a_opt)  # fp16: α's true gradient from here on
        self.grad_log.add(self.alpha.grad, self.alpha)  # before clipping: the estimator itself
        result = self.clipper.clip_([self.alpha])
        self.a_scaler.step(self.a_opt)
        return result.norm, result.clipped

    def _weight_step(self, xw, yw, temperature: float,
                     inject_nan: bool) -> tuple[float, torch.Tensor, torch.Tensor, float]:
        """(loss, correct count, weight grad norm, Σα); one host transfer (loss and Σα together).

        Σα is finite exactly when every α is (short of an overflow of the sum itself)."""
        self.w_opt.zero_grad(set_to_none=True)
        with torch.no_grad():
            sample = self._train_sample(self.alpha.detach(), temperature)
        loss, logits = self._forward_loss(xw, yw, sample.weights, sample.chosen, sample.hard_forward)
        if inject_nan:
            loss = loss * float("nan")
        self.w_scaler.scale(loss).backward()
        self.w_scaler.unscale_(self.w_opt)  # fp16: the true gradients are clipped and measured
        max_norm = self.config["optim.w_grad_clip"]
        if max_norm is not None:
            norm = torch.nn.utils.clip_grad_norm_(self.w_params, max_norm)
        else:
            norm = grad_norm_tensor(self.w_params)
        loss_value, alpha_sum = torch.stack([loss.detach().float(), self.alpha.detach().sum().float()]).tolist()
        if math.isfinite(loss_value):
            self.w_scaler.step(self.w_opt)
        correct = (logits.detach().argmax(-1) == yw).sum()
        return loss_value, correct, norm.detach(), alpha_sum

    @torch.inference_mode()
    def accuracy(self, weights: torch.Tensor, chosen: torch.Tensor | None,
                 batches: int | None = None) -> tuple[float, float]:
        """(mean loss, accuracy) of the supernet under op ``weights`` on the α split: its first ``batches``
        batches (default ``metrics.eval_batches``, as for ``val_acc``; 0 = the whole split)."""
        x, y = self.data.x_alpha, self.data.y_alpha
        limit = self.config["metrics.eval_batches"] if batches is None else batches
        n = len(y)
        if limit:
            n = min(n, limit * self.batch_size)
        total_loss = torch.zeros((), dtype=torch.float64, device=self.device)
        correct = torch.zeros((), dtype=torch.int64, device=self.device)
        for start in range(0, n, self.batch_size):
            end = min(start + self.batch_size, n)
            xb, yb = x[start:end], y[start:end]
            _, logits = self.loss_fn(xb, yb, weights, chosen)
            total_loss += F.cross_entropy(logits, yb, reduction="sum").double()
            correct += (logits.argmax(-1) == yb).sum()
        loss_sum, n_correct = total_loss.item(), correct.item()  # the one host transfer of the pass
        return loss_sum / n, n_correct / n

    def _hessian(self, temperature: float) -> float:
        x, y = self.data.x_alpha[: self.batch_size], self.data.y_alpha[: self.batch_size]

        def loss_fn(a: torch.Tensor) -> torch.Tensor:
            return F.cross_entropy(self.model(x, F.softmax(self.arch.masked(a) / temperature, dim=-1)), y)

        return dominant_eigenvalue(loss_fn, self.alpha, self.config["metrics.hessian_iters"],
                                   seed=int(self.config["seed"]) * 100003 + self.epoch)

    def step(self) -> dict[str, Any]:
        """Train one epoch and return its record.

        Running out of memory (:func:`diffnas.search.memory.is_memory_error`: a GPU past its share, a process
        past its memory limit) ends the run with status ``error`` and ``stop_reason`` ``out_of_memory: ...``
        (naming the limit, ``memory_note``, where one is set); that epoch's record carries NaN for what was
        not measured."""
        if self.done:
            raise RuntimeError(f"the run has ended ({self.status})")
        t_start = time.perf_counter()
        try:
            return self._step(t_start)
        except Exception as err:
            if not is_memory_error(err, limited=self.memory_note is not None):
                raise
            return self._out_of_memory(err, t_start)

    def _out_of_memory(self, err: BaseException, t_start: float) -> dict[str, Any]:
        for p in self.w_params:
            p.grad = None
        self.alpha.grad = None
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        self.epoch = max(self.epoch, len(self.records) + 1)
        message = " ".join(str(err).split())[:200] or type(err).__name__
        note = f"{self.memory_note}: " if self.memory_note else ""
        self.status, self.stop_reason = "error", f"out_of_memory: {note}{message}"
        nan = float("nan")
        record = measure_epoch(self, self.temperature(0), nan, nan, [], [], 0, diverged=True)
        record["wall_s"] = time.perf_counter() - t_start
        self.wall_s += record["wall_s"]
        self.records.append(record)
        return dict(record)

    def _step(self, t_start: float) -> dict[str, Any]:
        c = self.config
        self._maybe_prune()
        epoch_no = self.epoch + 1
        self.model.train()
        n_w, n_a = len(self.data.y_weights), len(self.data.y_alpha)
        order_w, order_a = self._batches(n_w), self._batches(n_a)
        train_alpha = epoch_no > c["warmup_epochs"]
        loss_sum = 0.0
        correct = torch.zeros((), dtype=torch.int64, device=self.device)
        a_norms: list[float] = []
        w_norms: list[torch.Tensor] = []
        prof = self.profile
        prof.start_epoch()
        clipped = 0
        diverged_reason = None
        temperature = self.temperature(0)
        inject = c["fault.nan_at_epoch"] == epoch_no
        if c["fault.oom_at_epoch"] == epoch_no:  # test hook: what a GPU out of memory raises
            raise torch.OutOfMemoryError(f"CUDA out of memory (injected by fault.oom_at_epoch={epoch_no})")
        self.grad_log = AlphaGradLog()
        for step in range(self.steps_per_epoch):
            temperature = self.temperature(step)
            iw = order_w[step * self.batch_size:(step + 1) * self.batch_size]
            start_a = (step * self.batch_size) % n_a
            ia = order_a[start_a:start_a + self.batch_size]
            xw, yw = self._augmented(self.data.x_weights[iw]), self.data.y_weights[iw]
            xa, ya = self.data.x_alpha[ia], self.data.y_alpha[ia]
            if self.data.augment_alpha:
                xa = self._augmented(xa)
            prof.lap("data")
            if train_alpha:
                norm, was_clipped = self._alpha_step(xa, ya, xw, yw, temperature)
                a_norms.append(norm)
                clipped += int(was_clipped)
                prof.lap("alpha_step")
            loss, corr, w_norm, alpha_sum = self._weight_step(xw, yw, temperature, inject and step == 0)
            loss_sum += loss * len(yw)
            correct += corr
            w_norms.append(w_norm)
            prof.lap("weight_step")
            if not math.isfinite(loss):
                diverged_reason = "non_finite_loss"
                break
            if not math.isfinite(alpha_sum):
                diverged_reason = "non_finite_alpha"
                break
        self.w_sched.step()
        self.epoch = epoch_no
        seen = min(n_w, (step + 1) * self.batch_size)
        record = measure_epoch(self, temperature, loss_sum / seen, correct.item() / seen, a_norms,
                               torch.stack(w_norms).tolist() if w_norms else [], clipped,
                               diverged_reason is not None)
        record.update(self.grad_log.summary())
        if diverged_reason is not None:
            self.status, self.stop_reason = "diverged", diverged_reason
        else:
            skip_count = int((self.prev_choice == self.space.ops.index("skip_connect")).sum()) \
                if "skip_connect" in self.space.ops else 0
            reason = self.stopper.update(record, skip_count)
            if reason is not None:
                self.status, self.stop_reason = "early_stopped", reason
            elif self.epoch >= c["epochs"]:
                self.status, self.stop_reason = "completed", None
        prof.lap("metrics")
        prof.end_epoch()
        self.wall_s += time.perf_counter() - t_start
        record["wall_s"] = time.perf_counter() - t_start
        self.records.append(record)
        return dict(record)

    def proxy_score(self, genotype: str) -> float:
        """``metrics.proxy`` of ``genotype`` (NaN when off): :class:`diffnas.selection.proxies.RunProxy`."""
        return self.proxy(genotype)

    # -- summary ------------------------------------------------------------------------------
    def trial_record(self) -> dict[str, Any]:
        """The trials-table row (without identity columns): :func:`diffnas.results.records.trial_row` and the
        run's provenance (:mod:`diffnas.search.provenance`)."""
        c = self.config
        best_by = {"metric": c["best_cell.metric"], "mode": c["best_cell.mode"], "rule": c["best_cell.rule"],
                   "tolerance": c["best_cell.tolerance"], "chooser": self.chooser,
                   "chooser_name": c["best_cell.chooser"]}
        row = trial_row(self.records, status=self.status, stop_reason=self.stop_reason, epochs_run=self.epoch,
                        wall_s=self.wall_s, best_by=best_by,
                        space=(self.space.name, list(self.space.ops), [e.label for e in self.space.edges]))
        return {**row, **provenance(self.device, self.perf.amp)}

    # -- checkpoints (diffnas.search.checkpoint) ---------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return checkpoint.state_dict(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        checkpoint.load_state_dict(self, state)

    def save(self, path: str) -> None:
        """Atomically write the run's state (temporary file, rename)."""
        checkpoint.save(self, path)

    @classmethod
    def load(cls, config: SearchConfig, path: str, device: str | None = None, threads: int | None = None) -> SearchRun:
        run = cls(config, device=device, threads=threads)
        run.load_state_dict(checkpoint.read(path))
        return run
