"""Conditional Wasserstein GANs of the POD coefficients around a kriging mean.

``wgan-gp`` (default, ``residuals="neighbours"``) is an instance-conditioned GAN (Casanova et al.
2021) of the runs' deviations from the kriging mean: a draw at ``c`` starts from a real training
run ``j`` of one of the ``local_points`` design points nearest to ``c`` (the rule of
``kriging-resample``, :mod:`uqgan.generators._neighbours`) and moves it::

    z = m(c) + μ + A w,   w_{1..g} = w_j,{1..g} + G([w_j,{1..g}, c_j − c, η], c_j − c),
    w_{g+1..k} = w_j,{g+1..k}

``G`` sees the neighbour's whitened deviation and how far it is carried, not where (its FiLM
conditioning is ``c_j − c``); its last layer starts at zero, so the untrained model is
``kriging-resample``'s law draw for draw, and training makes the law continuous. The critic
``D(w, c)`` sees the whitened deviations with ``c``; in training, the fake facing the real run
``i`` starts from a neighbour of ``c_i`` with ``i``'s own design point left out (at a new ``c`` no
run of ``c`` exists). The deviations keep their sharp, coherent features (what drives the zone's
stress peaks), which a law built from a Gaussian start loses: docs/generators.md measures both.

``residuals="deviations"`` learns the same law from a Gaussian start::

    z = m(c) + μ + A w,   w_{1..g} = ε_{1..g} + G([ε_{1..g}, η], c),   w_{g+1..k} = ε_{g+1..k}

with ``m`` the kriging mean of a composed :class:`~uqgan.generators.gaussian.KrigingGaussian`,
``d_j = z_j − m(c_j)`` every training run's deviation at its own parameters, ``μ`` their mean,
``A = V Λ^(1/2)`` from their covariance ``V Λ Vᵀ`` (eigenvalues descending), ``w = A⁻¹(d − μ)`` the
whitened deviations, ``g`` = ``gan_dims`` (all ``k`` by default), ``ε ~ N(0, I_k)``,
``η ~ N(0, I_latent)``, and ``G`` a FiLM-conditioned network (:mod:`.networks`) whose last layer
starts at zero: the untrained model is the Gaussian of the deviations, ``N(m(c) + μ, AAᵀ)``. The
critic ``D(w, c)`` sees the whitened deviations with ``c`` (Mirza & Osindero 2014, conditioning of
both networks), trained by WGAN-GP (Gulrajani et al. 2017). After training, a paired test over
held-out validation points (:meth:`WGANGP._test_against_start`) says whether the kept model beats
that start.

``residuals="replicate"`` / ``"kriging"`` give the earlier model, a correction of the pooled
Gaussian: ``z = m(c) + L ε + G([ε, η], c)`` with ``L`` kriging-gaussian's pooled replicate
covariance factor, trained on replicate residuals (or ``z − m(c)``), a penalty on the correction's
conditional mean (``mean_penalty``) keeping the kriging mean the model's mean; ``base="mean"`` drops
``L ε``.

``wgan-clip`` is the same model trained with the original weight-clipping WGAN (Arjovsky et al.
2017). The model holds no loop: :class:`~uqgan.generators.wgan.trainer.Trainer` trains it; the
measurements behind the defaults are in docs/generators.md.

References
----------
M. Mirza, S. Osindero, "Conditional generative adversarial nets", arXiv:1411.1784, 2014.
I. Gulrajani et al., "Improved training of Wasserstein GANs", NeurIPS 2017.
A. Casanova, M. Careil, J. Verbeek, M. Drozdzal, A. Romero-Soriano, "Instance-conditioned GAN",
NeurIPS 2021.
M. Arjovsky, S. Chintala, L. Bottou, "Wasserstein GAN", ICML 2017.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import ClassVar

import numpy as np

from ..._lazy import require
from .._base import Generator, GeneratorError
from .._neighbours import NeighbourRule
from ..gaussian import KrigingGaussian
from .config import WGANClipConfig, WGANConfig, parse_config
from .networks import ConvCorrection, ConvCritic, Critic, ResidualGenerator, _PODMap

torch = require("torch", purpose="the wgan-gp and wgan-clip generators")

__all__ = ["WGANGP", "WGANClip"]

logger = logging.getLogger(__name__)

SAMPLE_CHUNK = 65536  # rows per forward pass when sampling
CONV_SAMPLE_ELEMENTS = 2**24  # activations per forward pass when sampling with architecture="conv1d" (~64 MB)


def _resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device={device!r}: torch sees no CUDA device (torch.cuda.is_available() is False); "
                         "use device='cpu' or 'auto'")
    return device


def _seed63(ss: np.random.SeedSequence) -> int:
    """A 63-bit torch seed from a numpy SeedSequence."""
    return int(ss.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


class WGANGP(Generator):
    """Kriging mean + a conditional WGAN-GP law of the deviations from it (see the module docstring).

    Options (keyword-only; validated by :class:`~uqgan.generators.wgan.config.WGANConfig`, a bad one
    raises :class:`~uqgan.config.ConfigError` naming it):

    residuals : ``"neighbours"`` (default: the law of every run's deviation from the kriging mean,
        given c, generated from a neighbouring run's deviation), ``"deviations"`` (the same law from a
        Gaussian start), ``"replicate"`` (a correction of the pooled Gaussian trained on each sample minus
        its design point's replicate mean, times ``√(n_p / (n_p − 1))``; points with one replicate
        are left out) or ``"kriging"`` (that correction trained on ``z − m(c)``)
    gan_dims : with ``"neighbours"`` / ``"deviations"``, the leading whitened deviation coefficients
        the GAN learns (None: all; the rest stay the neighbour's / standard normal)
    steps : generator steps (3000 for ``"neighbours"`` and ``"deviations"``, 2000 otherwise)
    batch_size : minibatch size (64)
    n_critic : critic steps per generator step (5)
    gp_lambda : gradient-penalty weight λ (10)
    lr : learning rate of both networks (5e-4 for ``"deviations"``, Gulrajani et al.'s 1e-4 otherwise); ``lr_critic`` /
        ``lr_generator`` override it for one of them (the two time-scale update rule, Heusel et al. 2017)
    betas : Adam's (β1, β2) ((0, 0.9))
    mean_penalty : weight μ of ``μ E_c ‖E[G(ε, η, c) | c]‖²`` in the generator loss (0 for
        ``"neighbours"`` and ``"deviations"``, whose conditional mean is part of their law; 100 for the correction),
        estimated without bias from two noise draws per condition
        (:func:`~uqgan.generators.wgan.trainer.conditional_mean_penalty`). The real residuals have
        zero mean at every ``c``; with the critic's gradient norm ~1 the two gradients balance at a
        mean of about 1/(2μ) (whitened coefficients). Measured effect: docs/generators.md
    hidden, layers : width and number of hidden layers of both MLPs (256, 3); with
        ``architecture="conv1d"``, ``hidden`` is the width of the conv critic's output MLP
    architecture : ``"mlp"`` (MLPs on the POD coefficients) or ``"conv1d"`` (1-D convolutions over
        time on the histories, through the fixed POD projection; see :mod:`.networks`)
    conv_channels, conv_layers : hidden channels and convolution layers with ``architecture="conv1d"``
        (32, 3)
    latent_dim : extra noise η fed to the generator (16; with ``base="mean"`` η is all the noise, so
        make it at least the number of POD coefficients)
    activation : ``"leaky_relu"`` or ``"silu"``
    base : ``"gaussian"`` (``z = m + L ε + G``, G zero at the start) or ``"mean"`` (``z = m + G(η, c)``)
    critic_conditioning : ``"concat"`` or ``"film"``; ``critic_layer_norm`` : LayerNorm in the critic
    validation_samples : generated samples per validation point for the validation energy distance
    checkpoint_every, log_every : generator steps between checkpoints / metrics rows (500, 50)
    keep_checkpoints : checkpoint files kept (5; None keeps all)
    max_rollbacks, penalty_threshold : the divergence guard (see
        :meth:`~uqgan.generators.wgan.trainer.Trainer.run`)
    device : ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``
    num_threads : torch CPU threads while training on the CPU (1; None leaves torch's setting)
    k_individual, n_restarts : the composed kriging-gaussian's options
    local_points : with ``"neighbours"``, the design points whose runs a draw may start from (6, as
        ``kriging-resample``)
    pod_energy, max_modes, validation_fraction, seed, registration, arrival_fraction : the shared
        options of :class:`~uqgan.generators.Generator`

    ``fit(ds, directory=None, resume=False, show_progress=False)``: ``directory`` receives
    ``checkpoints/``, ``metrics.csv`` and ``training.png``; ``resume`` continues from its newest
    checkpoint. The generator kept is the one with the lowest validation energy distance (the
    untrained one, kriging-resample's law, the Gaussian of the deviations or kriging-gaussian,
    competes as step 0).

    Attributes
    ----------
    options : the validated settings (:class:`~uqgan.generators.wgan.config.WGANConfig`)
    gaussian : the composed, fitted :class:`~uqgan.generators.gaussian.KrigingGaussian`
    network : the trained :class:`~uqgan.generators.wgan.networks.ResidualGenerator`
    training_summary : what training did (:class:`~uqgan.generators.wgan.trainer.TrainingResult` as a dict,
        with ``gan_dims`` and, for ``"neighbours"`` / ``"deviations"``, ``start_test``)
    deviation_mean, deviation_map : ``μ`` ``(k,)`` and ``A`` ``(k, k)`` (``"neighbours"``, ``"deviations"``)
    neighbour_deviations, neighbour_conditions, neighbour_offsets : the training runs' whitened
        deviations ``(n, k)`` and parameters ``(n, p)``, grouped by design point (``"neighbours"``)
    beats_start : the paired test's verdict: True (the kept, trained model beats its untrained start,
        p < 0.05), False (it does not: the message logged says so), None (not tested)
    """

    name = "wgan-gp"
    adversarial: ClassVar[bool] = True
    _config_class: ClassVar[type[WGANConfig]] = WGANConfig

    def __init__(self, **options):
        self.options = parse_config(self._config_class, options)
        super().__init__(**self.options.shared_options())
        self.config = self.options.to_dict()
        self.gaussian = KrigingGaussian(**self.options.kriging_options())
        self.network: ResidualGenerator | None = None
        self.training_summary: dict = {}
        self.deviation_mean: np.ndarray | None = None  # (k,) μ, residuals="deviations"
        self.deviation_map: np.ndarray | None = None  # (k, k) A: d = μ + A w, w whitened
        self.beats_start: bool | None = None
        # residuals="neighbours": the training runs' whitened deviations (n, k), parameters (n, p), grouped by
        # design point (rows offsets[j]:offsets[j + 1] of point j)
        self.neighbour_deviations: np.ndarray | None = None
        self.neighbour_conditions: np.ndarray | None = None
        self.neighbour_offsets: np.ndarray | None = None
        self._run_point: np.ndarray | None = None  # (n,) each training row's point index (training only)

    # --------------------------------------------------------------------------------------------
    @property
    def residual_cholesky(self) -> np.ndarray | None:
        """``(k, k)`` Cholesky factor of the composed kriging-gaussian's pooled residual covariance."""
        return self.gaussian.residual_cholesky

    def mean_coefficients(self, c: np.ndarray) -> np.ndarray:
        """The kriging mean ``(m, k)`` of the whitened POD coefficients at ``c`` ``(m, p)`` in [-1, 1]."""
        return self.gaussian.mean_coefficients(c)

    def _pod_map(self) -> _PODMap | None:
        """The fixed history <-> coefficient maps from the preprocessor (``architecture="conv1d"``), else None."""
        if self.options.architecture != "conv1d":
            return None
        if self.prep.shift is not None:
            raise ValueError("architecture='conv1d' works on the histories themselves and cannot take "
                             "registration='arrival': use architecture='mlp' or registration='none'")
        return _PODMap(self.prep.pod.modes, self.prep.pod.std, self.prep.history_shape)

    def _build_network(self, k: int, p: int, *, generator: torch.Generator) -> ResidualGenerator:
        o = self.options
        net = ResidualGenerator(k=k, p=p, latent_dim=o.latent_dim, base=o.base, hidden=o.hidden, layers=o.layers,
                                activation=o.activation, generator=generator, pod_map=self._pod_map(),
                                conv_channels=o.conv_channels, conv_layers=o.conv_layers,
                                instance_dim=p if o.residuals == "neighbours" else 0)
        net.set_cholesky(np.eye(k) if self._whitened else self.residual_cholesky)
        return net

    @property
    def _whitened(self) -> bool:
        """Whether the GAN works on the whitened deviations (``residuals`` "deviations" or "neighbours")."""
        return self.options.residuals in ("deviations", "neighbours")

    def _build_critic(self, k: int, p: int, *, generator: torch.Generator) -> torch.nn.Module:
        o = self.options
        if o.architecture == "conv1d":
            return ConvCritic(p=p, pod_map=self._pod_map(), channels=o.conv_channels, layers=o.conv_layers,
                              hidden=o.hidden, activation=o.activation, conditioning=o.critic_conditioning,
                              layer_norm=o.critic_layer_norm, generator=generator)
        return Critic(k=k, p=p, hidden=o.hidden, layers=o.layers, activation=o.activation,
                      conditioning=o.critic_conditioning, layer_norm=o.critic_layer_norm, generator=generator)

    def _fit(self, z, c, points, *, validation=None, directory=None, resume: bool = False,
             show_progress: bool = False) -> None:
        from ...plots import plot_training
        from .trainer import EnergyValidator, train_wgan

        self.gaussian.prep, self.gaussian.split = self.prep, self.split
        self.gaussian._fit(z, c, points, validation=validation)
        o = self.options
        device = _resolve_device(o.device)
        k, p = z.shape[1], c.shape[1]
        self.network = None
        s_init, s_noise, s_data, s_val = np.random.SeedSequence(o.seed, spawn_key=(23,)).spawn(4)
        residual, c_train = self._training_residuals(z, c, points)
        k_gan = residual.shape[1]
        g_init = torch.Generator().manual_seed(_seed63(s_init))
        self.network = self._build_network(k_gan, p, generator=g_init)
        critic = self._build_critic(k_gan, p, generator=g_init)
        start = {name: v.detach().clone() for name, v in self.network.state_dict().items()}
        validate = test = None
        if validation is not None and validation.sizes.get("sample", 0) > 0:
            zv = self.prep.coefficients(validation)
            cv = self.prep.condition({n: validation[n].values for n in self.prep.parameter_names})
            rv = self._real_target(zv - self.mean_coefficients(cv))
            groups = validation["point"].values if "point" in validation.coords else np.arange(zv.shape[0])
            select, held = _split_validation(groups, independent=self._whitened)
            validate = EnergyValidator(rv[select], cv[select], groups[select], noise_dim=self.network.noise_dim,
                                       n_fake=o.validation_samples,
                                       generator=torch.Generator().manual_seed(_seed63(s_val)),
                                       noise=self._fixed_noise(s_val, 2))
            test = (rv[held], cv[held], groups[held], bool(np.any(held & ~select)))
        logger.info("%s: training on %d samples (%d coefficients, %d learnt adversarially, %d parameters) on %s",
                    self.name, z.shape[0], k, k_gan, p, device)
        result = train_wgan(self.network, critic, residual, c_train, o.train_config(), noise=self._training_noise(),
                            torch_generator=torch.Generator().manual_seed(_seed63(s_noise)),
                            rng=np.random.default_rng(s_data), validate=validate, directory=directory, resume=resume,
                            device=device, seed=o.seed, model_config={"generator": self.name, **self.config},
                            show_progress=show_progress, num_threads=o.num_threads if device == "cpu" else None)
        self.network.eval()
        self.training_summary = {**result.to_dict(), "device": device, "gan_dims": k_gan,
                                 "directory": str(directory) if directory is not None else None}
        if self._whitened:
            self.training_summary["start_test"] = self._test_against_start(start, result.best_step, test, s_val)
            self.beats_start = self.training_summary["start_test"]["beats_start"]
        if directory is not None and result.steps > 0:
            plot_training(Path(directory) / "metrics.csv", Path(directory) / "training.png",
                          best_step=result.best_step)

    def _test_against_start(self, start: dict, best_step: int, test, seeds: np.random.SeedSequence) -> dict:
        """Paired one-sided Wilcoxon signed-rank test over held-out validation points of the kept
        generator against its untrained start (the Gaussian of the deviations): per point, the energy
        distance (:func:`uqgan.stats.metrics.energy_distance`) of ``validation_samples`` fresh draws of
        each to the point's real whitened deviations, the same noise for both. ``beats_start`` is True when the
        kept model is a trained one and p < 0.05, False when not, None when the validation data cannot
        support the test (fewer than 6 points with two or more runs: with 5 the one-sided test reaches
        p < 0.05 only when all 5 differences favour the kept model); ``message`` says which."""
        from scipy.stats import wilcoxon

        from .trainer import EnergyValidator

        out = {"beats_start": None, "p_value": None, "points": 0, "independent_of_selection": None,
               "energy_distance_start": None, "energy_distance_kept": None}
        if test is None:
            out["message"] = f"{self.name}: no validation points: the kept model was not tested against its start"
            return self._say(out)
        real, cond, groups, independent = test
        ids, counts = np.unique(groups, return_counts=True)
        keep = np.isin(groups, ids[counts >= 2])
        n_points = int(np.sum(counts >= 2))
        out["points"], out["independent_of_selection"] = n_points, independent
        if n_points < 6:
            out["message"] = (f"{self.name}: only {n_points} held-out validation point(s) with two or more runs: the "
                              f"kept model (step {best_step}) could not be tested against its start (generate "
                              "replicates or raise validation_fraction)")
            return self._say(out)
        seed = _seed63(np.random.SeedSequence(seeds.entropy, spawn_key=(*seeds.spawn_key, 1)))
        validator = EnergyValidator(real[keep], cond[keep], groups[keep], noise_dim=self.network.noise_dim,
                                    n_fake=self.options.validation_samples,
                                    generator=torch.Generator().manual_seed(seed), noise=self._fixed_noise(seeds, 3))
        kept = {name: v.detach().clone() for name, v in self.network.state_dict().items()}
        ed_kept = validator.point_distances(self.network)
        self.network.load_state_dict(start)
        ed_start = validator.point_distances(self.network)
        self.network.load_state_dict(kept)
        diff = ed_start - ed_kept
        p = 1.0 if not np.any(diff != 0) else float(wilcoxon(diff, alternative="greater").pvalue)
        out.update(p_value=p, energy_distance_start=float(ed_start.mean()), energy_distance_kept=float(ed_kept.mean()),
                   beats_start=bool(best_step > 0 and p < 0.05))
        what = "beats" if out["beats_start"] else "does NOT beat"
        start_law = self._start_law()
        out["message"] = (f"{self.name}: the kept generator (step {best_step}) {what} its untrained start ("
                          f"{start_law}) on {n_points} held-out validation points: energy distance "
                          f"{out['energy_distance_kept']:.4g} vs {out['energy_distance_start']:.4g}, paired "
                          f"Wilcoxon p = {p:.3g}" + ("" if independent else " (the same points chose the step)"))
        if not out["beats_start"]:
            out["message"] += (f"; its law is then no better than {start_law}: compare it with kriging-gaussian and "
                               "kriging-resample (uqgan evaluate) before using it")
        return self._say(out)

    def _say(self, out: dict) -> dict:
        (logger.info if out["beats_start"] else logger.warning)("%s", out["message"])
        return out

    def _real_target(self, d: np.ndarray) -> np.ndarray:
        """Deviations ``(n, k)`` from the kriging mean -> what the GAN learns: the leading ``gan_dims``
        whitened coefficients ``w = Λ^(-1/2) Vᵀ (d − μ)`` (``residuals="deviations"``), else ``d``."""
        if not self._whitened:
            return d
        w = np.linalg.solve(self.deviation_map, (d - self.deviation_mean).T).T
        return w[:, : self.network.k if self.network is not None else self._gan_dims(d.shape[1])]

    def _gan_dims(self, k: int) -> int:
        return min(self.options.gan_dims or k, k)

    def _training_residuals(self, z: np.ndarray, c: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The real residuals and their conditioning (see the ``residuals`` option).

        ``"deviations"``: every run's ``d = z − m(c)``; ``μ`` their mean and ``Σ = V Λ Vᵀ`` their
        covariance (eigenvalues descending, floored at 1e-12 of the largest), ``A = V Λ^(1/2)``; the GAN
        learns the leading ``gan_dims`` of ``w = A⁻¹ (d − μ)``, the rest stay standard normal."""
        if self._whitened:
            d = z - self.mean_coefficients(c)
            self.deviation_mean = d.mean(axis=0)
            lam, vec = np.linalg.eigh(np.atleast_2d(np.cov(d, rowvar=False)))
            lam, vec = lam[::-1], vec[:, ::-1]
            lam = np.maximum(lam, 1e-12 * max(lam[0], np.finfo(float).tiny))
            self.deviation_map = vec * np.sqrt(lam)
            if self.options.residuals == "neighbours":
                order = np.argsort(points, kind="stable")  # grouped by design point, as the rule wants them
                self._set_neighbours(self._real_target_all(d[order]), c[order], points[order])
                return self._real_target(d[order]), c[order]
            return self._real_target(d), c
        if self.options.residuals == "replicate":
            _, inverse, counts = np.unique(points, return_inverse=True, return_counts=True)
            keep = counts[inverse] >= 2
            if keep.any():
                zbar = np.zeros((counts.size, z.shape[1]))
                np.add.at(zbar, inverse, z)
                zbar /= counts[:, None]
                scale = np.sqrt(counts / np.maximum(counts - 1, 1))[inverse][:, None]
                return ((z - zbar[inverse]) * scale)[keep], c[keep]
            logger.warning("%s: no design point has two or more replicates, so the critic sees the residuals of the "
                           "kriging mean (residuals='kriging'); generate replicates for a clean residual", self.name)
        return z - self.mean_coefficients(c), c

    # ---- residuals="neighbours": the instance conditioning ----------------------------------------
    def _real_target_all(self, d: np.ndarray) -> np.ndarray:
        """All ``k`` whitened coefficients ``w = A⁻¹ (d − μ)`` of deviations ``(n, k)``."""
        return np.linalg.solve(self.deviation_map, (d - self.deviation_mean).T).T

    def _set_neighbours(self, w: np.ndarray, c: np.ndarray, points: np.ndarray) -> None:
        _, first, inverse = np.unique(points, return_index=True, return_inverse=True)
        if first.size < 2:
            raise GeneratorError(f"{self.name} with residuals='neighbours' needs two or more training design points "
                                 f"(the training data has {first.size}): generate more points or use "
                                 "residuals='deviations'")
        self.neighbour_deviations, self.neighbour_conditions = w, c
        self.neighbour_offsets = np.append(np.sort(first), w.shape[0])
        self._run_point = inverse

    def _neighbour_rule(self) -> NeighbourRule:
        starts = self.neighbour_offsets[:-1]
        return NeighbourRule(self.neighbour_conditions[starts], self.neighbour_offsets,
                             self.gaussian.kriging.length_scales(), self.options.local_points)

    def _instance(self, rows: np.ndarray, c: np.ndarray) -> np.ndarray:
        """``[w_j (leading network.k), c_j − c]`` ``(m, k_gan + p)``: the generator's input for neighbour runs
        ``rows`` carried over to ``c``."""
        return np.column_stack([self.neighbour_deviations[rows, : self.network.k], self.neighbour_conditions[rows] - c])

    def _training_noise(self):
        """The trainer's noise for ``residuals="neighbours"`` (None otherwise): a fake that faces the real
        run ``i`` starts from a run of one of the ``local_points`` design points nearest to ``c_i``, ``i``'s
        own point left out (at a new ``c`` no run of ``c`` itself exists), and draws fresh η."""
        if self.options.residuals != "neighbours":
            return None
        rule, cond = self._neighbour_rule(), self.neighbour_conditions

        def noise(idx, rng, torch_generator):
            rows = rule.draw_others(self._run_point[idx], rng)
            inst = torch.from_numpy(self._instance(rows, cond[idx])).float()
            eta = torch.randn(idx.size, self.network.latent_dim, generator=torch_generator)
            return torch.cat([inst, eta], dim=1)

        return noise

    def _fixed_noise(self, seeds: np.random.SeedSequence, key: int):
        """The validator's fixed noise for ``residuals="neighbours"`` (None otherwise): neighbour runs of
        the validation conditions and η, from a stream of its own."""
        if self.options.residuals != "neighbours":
            return None
        rule = self._neighbour_rule()
        ss = np.random.SeedSequence(seeds.entropy, spawn_key=(*seeds.spawn_key, key))

        def noise(cond):
            rng = np.random.default_rng(ss)
            rows = rule.draw(cond, rng)
            tg = torch.Generator().manual_seed(_seed63(ss))
            eta = torch.randn(cond.shape[0], self.network.latent_dim, generator=tg)
            return torch.cat([torch.from_numpy(self._instance(rows, cond)).float(), eta], dim=1)

        return noise

    def _start_law(self) -> str:
        """What the untrained generator samples, for messages."""
        if self.options.residuals == "neighbours":
            return "kriging-resample's law: a neighbouring run's deviation carried over"
        return "the Gaussian of the deviations"

    def _sample(self, c: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self.network is None or self.residual_cholesky is None:
            raise RuntimeError(f"{self.name} is not fitted: call fit(dataset) or load a saved model")
        c = np.asarray(c, dtype=float)
        mean = self.mean_coefficients(c)
        if self.options.residuals == "neighbours":
            rows = self._neighbour_rule().draw(c, rng)
            kg = self.network.k
            w = self.neighbour_deviations[rows].copy()
            w[:, :kg] += self._correction(c, self._instance(rows, c), rng)
            return mean + self.deviation_mean + w @ self.deviation_map.T
        deviations = self.options.residuals == "deviations"
        if deviations or self.network.base == "gaussian":  # ε first, from the rng, as kriging-gaussian draws it
            eps = rng.standard_normal(mean.shape)
        else:
            eps = None
        corr = self._correction(c, eps[:, : self.network.k] if self.network.base == "gaussian" else None, rng)
        if not deviations:
            return (mean + eps @ self.residual_cholesky.T if eps is not None else mean) + corr
        w = eps.copy()
        kg = self.network.k
        w[:, :kg] = (w[:, :kg] if self.network.base == "gaussian" else 0.0) + corr
        return mean + self.deviation_mean + w @ self.deviation_map.T

    def _correction(self, c: np.ndarray, eps: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
        """``G([ε, η], c)`` ``(m, network.k)`` in float64, η from a torch generator seeded by ``rng``
        (``eps`` is every input before η: ``[w_j, c_j − c]`` for ``residuals="neighbours"``)."""
        tg = torch.Generator().manual_seed(int(rng.integers(2**63)))
        device = next(self.network.parameters()).device
        chunk = SAMPLE_CHUNK
        if isinstance(self.network.net, ConvCorrection):  # the hidden maps are (rows, channels, ~T) each
            pm = self.network.net.pod_map
            chunk = max(1, min(chunk, CONV_SAMPLE_ELEMENTS // (max(self.network.net.channels, pm.channels) * pm.time)))
        out = np.empty((c.shape[0], self.network.k))
        with torch.no_grad():
            for lo in range(0, c.shape[0], chunk):
                hi = min(lo + chunk, c.shape[0])
                eta = torch.randn(hi - lo, self.network.latent_dim, generator=tg)
                noise = torch.cat([torch.from_numpy(eps[lo:hi]).float(), eta], dim=1) if eps is not None else eta
                cc = torch.from_numpy(c[lo:hi]).float()
                out[lo:hi] = self.network.correction(noise.to(device), cc.to(device)).double().cpu().numpy()
        return out

    # --------------------------------------------------------------------------------------------
    def _network_meta(self) -> dict:
        net, o = self.network, self.options
        return {"k": net.k, "p": net.p, "latent_dim": net.latent_dim, "base": net.base, "hidden": o.hidden,
                "layers": o.layers, "activation": o.activation, "noise_dim": net.noise_dim,
                "architecture": o.architecture}

    def _state(self) -> dict[str, np.ndarray]:
        if self.network is None:
            raise RuntimeError(f"{self.name} is not fitted: nothing to save")
        dev = ({} if self.deviation_map is None else
               {"deviation_mean": self.deviation_mean, "deviation_map": self.deviation_map})
        if self.neighbour_deviations is not None:
            dev.update(neighbour_deviations=self.neighbour_deviations, neighbour_conditions=self.neighbour_conditions,
                       neighbour_offsets=self.neighbour_offsets)
        return {**self.gaussian._state(), **dev,
                **{f"wgan.{k}": v.detach().cpu().numpy() for k, v in self.network.state_dict().items()}}

    def _meta(self) -> dict:
        return {**self.gaussian._meta(), "wgan": {"network": self._network_meta(), "training": self.training_summary}}

    def _restore(self, arrays: dict[str, np.ndarray], meta: dict, *, directory: Path) -> None:
        self.gaussian.prep, self.gaussian.split = self.prep, self.split
        self.gaussian._restore({k: v for k, v in arrays.items()
                                if not k.startswith(("wgan.", "deviation_", "neighbour_"))}, meta, directory=directory)
        self.deviation_mean, self.deviation_map = arrays.get("deviation_mean"), arrays.get("deviation_map")
        if "neighbour_deviations" in arrays:
            self.neighbour_deviations = arrays["neighbour_deviations"]
            self.neighbour_conditions = arrays["neighbour_conditions"]
            self.neighbour_offsets = arrays["neighbour_offsets"]
        info = meta["wgan"]["network"]
        self.network = self._build_network(int(info["k"]), int(info["p"]), generator=torch.Generator())
        state = {k.removeprefix("wgan."): torch.from_numpy(np.ascontiguousarray(v))
                 for k, v in arrays.items() if k.startswith("wgan.")}
        self.network.load_state_dict(state)
        device = self.options.device
        if device.startswith("cuda") and not torch.cuda.is_available():
            logger.warning("%s was configured for device=%r but torch sees no CUDA device: sampling on the CPU",
                           self.name, device)
            device = "cpu"
        self.network.to(_resolve_device(device))
        self.network.eval()
        self.training_summary = meta["wgan"].get("training", {})
        self.beats_start = self.training_summary.get("start_test", {}).get("beats_start")


def _split_validation(groups: np.ndarray, *, independent: bool) -> tuple[np.ndarray, np.ndarray]:
    """Row masks ``(select, test)`` over validation runs: with ``independent`` and 12 or more points,
    alternate points (sorted ids) choose the training step and the others test it, so the paired test
    of :meth:`WGANGP._test_against_start` does not reuse the data that chose the step; else both are
    every run."""
    ids = np.unique(groups)
    if not independent or ids.size < 12:
        every = np.ones(groups.shape[0], dtype=bool)
        return every, every
    select = np.isin(groups, ids[::2])
    return select, ~select


class WGANClip(WGANGP):
    """The same model trained with the original weight-clipping WGAN (Arjovsky et al. 2017): every
    critic weight clipped to [−clip, clip] after each critic step, RMSProp with lr 5e-5, no penalty.

    Options: ``clip`` (0.01), ``lr`` (5e-5) and :class:`WGANGP`'s, without ``gp_lambda`` and ``betas``
    (:class:`~uqgan.generators.wgan.config.WGANClipConfig`).
    """

    name = "wgan-clip"
    _config_class: ClassVar[type[WGANClipConfig]] = WGANClipConfig
