"""The scikit-learn estimator: parameters, their validation, and the
translation of a fit into a plan (``skae._fit_plan``), a run of the trainer
(``skae._training``) and fitted attributes (``skae._fitted``); inference."""

from __future__ import annotations

import contextlib
import copy
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from . import _fitted as fitted
from ._corruption import NOISE_KINDS
from ._dask import (
    BlockSource,
    check_dask_array,
    is_dask_array,
    map_estimator,
    summarize_blocks,
)
from ._data import RowSource, map_batches, summarize
from ._fit_plan import draw_seed, plan_fit, split_validation, start_network
from ._fitted import history_attributes, network_attributes
from ._hooks import EpochHooks, checked_callbacks
from ._inputs import as_array_like
from ._neighbors import neighbor_term
from ._networks import ACTIVATIONS, ARCHITECTURES, Autoencoder, VariationalEncoder
from ._objectives import elbo
from ._pickling import pack_tensors, unpack_tensors
from ._repr import CompactReprMixin
from ._sklearn_callbacks import RUNTIME_ATTRIBUTES, CallbackSupportMixin, FitTasks
from ._training import SCHEDULES, Trainer, TrainerState
from ._warnings import warn_user

# Rows per inference batch: large enough to keep the BLAS busy, small enough
# that transform's extra memory is a few MB whatever the size of X.
_INFERENCE_BATCH = 4096
_FLOAT_DTYPES = (np.float32, np.float64)
# Posterior draws per row in a variational model's ELBO (score_samples).
_ELBO_DRAWS = 16


def _can_sample(estimator) -> bool:
    """:meth:`AutoencoderTransformer.sample` exists for variational models
    only: the fitted one's kind, or before a fit the parameter's."""
    encoder = getattr(estimator, "encoder_", None)
    variational = (
        isinstance(encoder, VariationalEncoder)
        if encoder is not None
        else estimator.variational
    )
    if not variational:
        raise AttributeError(
            "sample is only available for a variational model "
            "(variational=True): a plain autoencoder has no prior to draw from."
        )
    return True


class AutoencoderTransformer(
    CallbackSupportMixin,
    CompactReprMixin,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    BaseEstimator,
):
    """Dimensionality reduction with a PyTorch autoencoder.

    The encoder maps each sample to a code of ``n_components`` values
    (:meth:`transform`); the decoder maps codes back to the input space
    (:meth:`inverse_transform`). Dense (vanilla or deep), convolutional,
    sparse and denoising autoencoders are settings of this one estimator and
    combine freely.

    Parameters
    ----------
    n_components : int, default=2
        Size of the code (bottleneck). Larger than ``n_features`` (an
        overcomplete code) only with ``sparsity`` or ``noise`` set, since a
        plain overcomplete autoencoder can learn the identity.

    architecture : {"dense", "conv"}, default="dense"
        ``"dense"``: fully connected layers through ``hidden_layer_sizes``.
        ``"conv"``: stride-2 convolutions through ``conv_channels`` on rows
        reshaped to ``image_shape``.

    encoder : torch.nn.Module, default=None
        Your own encoder, in place of the one ``architecture`` builds: it
        maps float32 batches of shape ``(n, n_features)`` to codes of shape
        ``(n, n_components)`` (reshape inside it for images or signals).
        ``fit`` trains a deep copy, never this object, so ``clone``, grid
        searches and pickling work as usual; shapes are checked on a first
        batch, with an error naming the module. With ``sparsity="kl"`` a
        sigmoid is appended to the copy. Works with every objective and
        ``device``; :func:`~skae.save_model` cannot store it (pickle the
        estimator, or export the fitted encoder with
        :func:`~skae.export_encoder`).

    decoder : torch.nn.Module, default=None
        Your own decoder, mapping codes ``(n, n_components)`` to
        ``(n, n_features)``; trained as a deep copy like ``encoder``. It
        returns unbounded values: with ``loss="bce"`` a sigmoid is appended
        to the copy. The built decoder starts at the feature means (see
        ``init_output_bias``); yours keeps its own initialisation. Either
        module may be given alone: the other is built from the parameters.

    hidden_layer_sizes : int, tuple of int or "auto", default="auto"
        Widths of the encoder's fully connected hidden layers; the decoder
        mirrors them. For ``architecture="dense"`` they follow the input,
        and ``()`` gives the vanilla single-layer autoencoder. ``"auto"`` is
        ``(256, 128)``, except for a plain dense model (no sparsity,
        variational model, neighbour term or user module) fitted on fewer
        than 10,000 rows, which gets ``(256,)``: see "Small data" below. For
        ``architecture="conv"`` they lie between the flattened convolutional
        features and the code; ``()`` maps the features to the code with one
        linear layer, which at 2-D leaves the decoder too little to rebuild
        the features from.
        ``(1024, 512)`` with ``max_iter=44`` gave the best 32-D codes we
        measured on full MNIST and Fashion-MNIST (5-NN 0.983 and 0.881),
        for about 7 times the defaults' fit time (user guide, "Quality and
        fit time at 32-D").

    conv_channels : int or tuple of int, default=(16, 32)
        Encoder channel widths for ``architecture="conv"``, one stride-2
        3x3 convolution each; the decoder mirrors them with transposed
        convolutions. ``(64, 128, 64)``, the tutorials' stack, is GPU-sized.

    image_shape : tuple of int, default=None
        ``(height, width)`` or ``(channels, height, width)`` of each row for
        ``architecture="conv"`` and ``noise="shift"``; rows are reshaped in C
        order, so channels vary slowest. One entry may be -1 to infer it
        from ``n_features`` (``(1, -1)``: each row is a 1-D signal). When
        None, rows must be square one-channel images (``n_features`` a
        perfect square).

    activation : {"relu", "tanh", "logistic", "identity", "leaky_relu", \
"elu", "gelu"}, default="gelu"
        Activation of the hidden layers. GELU gave better codes than ReLU
        for about 7% more time per epoch: on all of MNIST at 32-D in 12
        epochs, 5-NN accuracy 0.978 against 0.976 at the same learning rate
        (``benchmarks/defaults_sweep.py``).

    loss : {"auto", "mse", "bce"}, default="auto"
        Reconstruction loss minimised during training. ``"bce"`` (binary
        cross-entropy) adds a sigmoid to the decoder output and requires
        inputs in [0, 1]; ``"auto"`` takes ``"bce"`` when every value of X
        lies in [0, 1] (pixel intensities, min-max scaled features) and
        ``"mse"`` otherwise: with the default training budget, BCE gave MNIST
        codes with better neighbourhoods and a lower test squared error than
        MSE (``benchmarks/training_ablation.py``).
        :meth:`score` is the squared error either way, so models trained
        with either loss compare directly.

    sparsity : {"l1", "kl"}, default=None
        Sparsity penalty on the code. ``"l1"``: each code's L1 norm divided
        by its L2 norm and by ``sqrt(n_components)`` (a scale-free L1, which
        the encoder cannot lower by merely shrinking its codes).
        ``"kl"``: sigmoid codes and the mean over units of
        KL(``sparsity_target`` || mean activation of the unit).

    sparsity_weight : float or "auto", default="auto"
        Weight of the sparsity penalty in the training objective. ``"auto"``
        is 0.002 for ``"l1"`` and 0.1 for ``"kl"``. The L1 weight made codes
        measurably sparser while keeping MNIST 5-NN accuracy close to the
        unpenalised model's (on 2,000 digits: within 0.01 for seed 0; L1
        lost 0.04 for seed 1, so treat it as a starting point). The KL
        weight, whose term rises from 0 over the first 40% of the schedule,
        brings the mean code activation within twice ``sparsity_target`` on
        all of MNIST at 32-D (0.082) with 5-NN 0.009 below the unpenalised
        model's; on a few thousand rows it costs more (0.026 on 2,000
        digits). The KL penalty is averaged over code units. Larger weights
        give sparser codes with poorer neighbourhoods and reconstructions.

    sparsity_target : float, default=0.05
        Target mean activation of each code unit for ``sparsity="kl"``.

    variational : bool, default=False
        Train a variational autoencoder (Kingma & Welling, 2014): the
        encoder's last layer becomes two heads, the mean and log-variance of
        a Gaussian posterior ``q(z | x)``; the decoder is trained on draws
        from it, and the objective adds ``beta`` times the KL divergence from
        the standard normal prior. :meth:`transform` returns the posterior
        mean, :meth:`score_samples` an estimate of the evidence lower bound
        (ELBO) and :meth:`sample` decodes draws from the prior. The KL term
        is warmed up: its weight rises from 0 to ``beta`` over the first 40%
        of the schedule, which on MNIST and Fashion-MNIST gave a better test
        ELBO and better codes (user guide). Composes with ``architecture``
        (dense or conv), ``noise``, ``neighbor_weight`` and a user
        ``decoder``; not with ``sparsity`` or a user ``encoder``.

    beta : float, default=1.0
        Weight of the KL term of a variational model (``variational=True``
        only). 1 trains the ELBO itself (for ``loss="bce"``, of a Bernoulli
        decoder; for ``"mse"``, of a Gaussian decoder of variance 1/2, whose
        negative log-density is the squared error); larger values give a
        smoother latent space that is closer to the prior and reconstructs
        less (a beta-VAE), smaller ones the reverse.

    noise : {"gaussian", "masking", "salt_pepper", "shift", "auto"} or None, \
default="auto"
        Corruption of training batches for a denoising autoencoder; the loss
        compares reconstructions with the clean inputs. None trains on clean
        batches; ``"auto"`` is ``"masking"`` for the small-data settings
        (see "Small data" below) and None otherwise. ``transform``,
        ``inverse_transform``, ``score`` and validation never corrupt.
        ``"shift"`` is augmentation for images (rows of ``image_shape``, any
        architecture): each training row is translated by a random whole
        number of pixels along each axis, and the model learns to map it
        back to the unshifted image, so nearby translations of one picture
        get nearby codes. With ``neighbor_weight`` it also shifts the rows
        the encoder's start is fitted on; on MNIST 2-D maps it raised test
        5-NN accuracy, on Fashion-MNIST it lowered it (user guide). On a few
        thousand images it was the best regulariser measured (FAQ).

    noise_level : float or "auto", default="auto"
        Standard deviation of gaussian noise, the probability that an input
        is masked to 0 (``"masking"``) or set to the data minimum or maximum
        (``"salt_pepper"``), or the largest shift in pixels (``"shift"``: a
        whole number ≥ 1). ``"auto"`` is 1 for ``"shift"`` (the measured
        choice for 28x28 images), 0.3 for masking with the small-data
        settings, and 0.2 otherwise.

    neighbor_weight : float, default=0.0
        Weight of the neighbour-graph term: UMAP's fuzzy k-nearest-neighbour
        graph of the training rows (built once per fit with umap-learn) is
        sampled edge by edge, and the cross-entropy between it and the codes
        of the sampled pairs is added to the reconstruction loss, as in
        Parametric UMAP with an autoencoder loss. Each step then reconstructs
        the heads of ``batch_size`` sampled edges. 0 disables the term (no
        graph is built). Before training, umap-learn lays the graph out as
        UMAP does (from its spectral layout, with its own optimiser: serial
        and reproducible when ``random_state`` is set, parallel when None),
        and the encoder is trained for 3,000 steps of 512 edges to place
        each row where UMAP's ``transform`` would place it as a new row of
        that layout, with 20% of its inputs masked so that it places unseen
        rows well; the term then refines the map while the decoder trains.
        ``noise="masking"`` masks the inputs of those epochs too: on
        Fashion-MNIST it raises the map's 5-NN accuracy and lowers its
        trustworthiness (user guide).
        ``transform`` stays one encoder pass, and neither the graph nor the
        layout is kept in the fitted model. 1.0 is the recommended setting
        for 2-D maps: it weighs UMAP's per-pair cross-entropy ten times the
        per-pixel reconstruction loss, which on MNIST gave maps as good as
        the graph term alone while the decoder still trains (see the user
        guide for measured accuracy and fit time). Left at 0 by default: at
        larger codes the term trades reconstruction and trustworthiness for
        neighbourhoods. On full MNIST it raised 5-NN at 8-D (0.957 to 0.964)
        but lowered it at 32-D (0.978 to 0.963), as Parametric UMAP's authors
        found at 64-D, and it lowered trustworthiness and reconstruction at
        both.

    n_neighbors : int, default=15
        Neighbourhood size of the graph (``neighbor_weight > 0`` only),
        each row counting as its own first neighbour, as in UMAP.

    alpha : float, default=0.0
        L2 penalty, passed to Adam as ``weight_decay``: ``alpha`` times each
        parameter (biases included) is added to the gradient of the mean
        batch loss. :class:`~sklearn.neural_network.MLPRegressor` divides its
        ``alpha`` by the batch size and spares the biases, so the same value
        is about ``batch_size`` times stronger here: on 2,000 MNIST digits at
        16-D, ``alpha=1e-3`` shrank the codes to nothing (5-NN 0.24 against
        0.89 without), while ``alpha=1e-5`` raised 5-NN from 0.888 to 0.897
        (on 5,000 digits from 0.936 to 0.945; ``benchmarks/results/
        small_data_settings.jsonl``).

    batch_size : int or "auto", default="auto"
        Training minibatch size (clipped to the number of samples).
        ``"auto"`` is 32 with the small-data settings (see "Small data"
        below) and 256 otherwise; with ``neighbor_weight > 0``, the number
        of graph edges per step.

    learning_rate_init : float, default=6e-3
        Adam's peak learning rate, where the schedule starts. Higher than
        :class:`~sklearn.neural_network.MLPRegressor`'s 1e-3 because the
        cosine schedule averages half of it and the default budget is short:
        on all of MNIST at 32-D in 12 epochs, 6e-3 gave 5-NN accuracy 0.978
        against 0.976 at 3e-3 (GELU; 0.976 against 0.971 with ReLU)
        (``benchmarks/defaults_sweep.py``).

    learning_rate : {"cosine", "constant"}, default="cosine"
        Learning-rate schedule. ``"cosine"`` anneals the rate from
        ``learning_rate_init`` to zero over the ``max_iter`` epochs, stepped
        every batch, so that training ends at a minimum of the loss: the run
        length is the budget, and the no-improvement rule only applies to the
        validation error (``early_stopping=True``). ``"constant"`` keeps the
        rate and stops as :class:`~sklearn.neural_network.MLPRegressor` does,
        when the training loss stops improving.

    max_iter : int or "auto", default="auto"
        Number of epochs (passes over the training data): the length of the
        ``"cosine"`` schedule, or the most that are run at a constant rate.
        ``"auto"`` sizes it in optimiser steps rather than epochs, so that
        small and large data sets alike get enough updates: the epochs that
        give about 2,500 batches, at least 10 and at most 1,000 (11 epochs
        on 60,000 rows at ``batch_size=256``; 40 on 2,000 rows in the
        small-data batches of 32), with or
        without the neighbour-graph term. The value used is ``max_iter_``.
        With ``neighbor_weight > 0``, an integer below the ``"auto"`` value
        also shortens the encoder's warm start (3,000 steps) in proportion.

    shuffle : bool, default=True
        Whether to reshuffle the training rows every epoch.

    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data, stop when its clean
        reconstruction error has not improved by ``tol`` for
        ``n_iter_no_change`` epochs, and keep the weights of the best epoch.

    validation_fraction : float, default=0.1
        Fraction of the training data held out for early stopping.

    n_iter_no_change : int, default=10
        Number of epochs without a ``tol`` improvement before stopping.

    tol : float, default=1e-4
        Improvement threshold on the training loss (or on the validation
        error with early stopping). With the ``"cosine"`` schedule, a run
        that used all ``max_iter`` epochs has converged when its last epoch
        improved the training loss by at most ``tol``, or by less than 1% of
        what the whole run gained (a scale-free test: the default 11 epochs
        on all of MNIST end at 0.4%); otherwise a
        :class:`~sklearn.exceptions.ConvergenceWarning` says ``max_iter`` was
        too small.

    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, shuffling, the validation split and
        corruption. An int gives identical results run after run on CPU.

    verbose : int or bool, default=0
        Print one line per epoch with the losses and the epoch time (the
        :class:`skae.callbacks.PrintEpochs` callback, run first).

    warm_start : bool, default=False
        When True and the estimator is fitted, :meth:`fit` continues from
        the fitted weights (with a fresh optimiser and a new schedule of
        ``max_iter`` epochs) and extends ``history_``, ``loss_curve_`` and
        ``n_iter_``, as in :class:`~sklearn.neural_network.MLPRegressor`.
        The parameters must still describe the fitted network (same layers
        and loss), and X the same features; otherwise ``fit`` raises.

    callbacks : list of callable, default=None
        Called as ``callback(estimator, epoch, record)`` after each epoch of
        :meth:`fit` (epochs counted from 1 within the call) and after each
        :meth:`partial_fit` call (``epoch`` is then ``n_iter_``), with the
        epoch's losses, ``"val_mse"`` with early stopping, ``"time"`` and
        ``"max_iter"``. A callback returning a true value stops :meth:`fit`,
        which then ends as on convergence (``stop_reason_="callback"``, best
        weights kept with early stopping). An optional
        ``on_fit_end(estimator)`` method is called when a call ends. A
        callback that raises fails the call and leaves the estimator as it
        was. The protocol is :class:`skae.callbacks.Callback`; see
        :mod:`skae.callbacks` (a tqdm progress bar, the verbose printer).
        With scikit-learn >= 1.9, scikit-learn's own callbacks are set with
        ``set_callbacks`` instead (each epoch of :meth:`fit` is a subtask;
        see the user guide).

    device : str, default="auto"
        Torch device to train on. ``"auto"`` uses CUDA when available, else
        the CPU. The fitted modules stay on this device; a pickled model
        always loads onto the CPU.

    precision : {"float32", "bfloat16"}, default="float32"
        ``"bfloat16"`` runs training's forward pass in bfloat16 through
        :func:`torch.autocast` (mixed precision); weights, Adam's state, the
        losses, :meth:`transform` and :meth:`inverse_transform` stay float32.
        It pays where the device multiplies bfloat16 in hardware (recent GPUs;
        CPUs with AMX). On MNIST it reached the same 5-NN accuracy as float32
        (0.9749 against 0.9745 at 32-D, 60,000 images), but on a shared
        2-core CPU with AMX the full fit was not faster (872 s against 566 s
        in the same run), so it is not the default.

    Attributes
    ----------
    encoder_ : torch.nn.Module
        Maps ``(n, n_features_in_)`` float32 tensors to codes.

    decoder_ : torch.nn.Sequential
        Maps codes to reconstructions (sigmoid included for ``loss="bce"``).

    n_components_ : int
        Size of the code.

    image_shape_ : tuple of int or None
        ``(channels, height, width)`` used by the conv architecture.

    reconstruction_loss_ : {"mse", "bce"}
        The loss used for training (``loss`` with ``"auto"`` resolved).

    max_iter_ : int
        The epoch budget used (``max_iter`` with ``"auto"`` resolved).

    loss_curve_ : list of float
        Training objective (the sum of its terms in ``history_``) per epoch.

    history_ : dict of list of float
        Per-epoch ``"loss"``, ``"reconstruction"``, ``"penalty"`` (the
        sparsity penalty, or a variational model's ``beta``-weighted KL term
        per feature), with
        ``neighbor_weight > 0`` ``"neighbor"`` (the weighted graph term), and
        with early stopping ``"val_mse"``.

    validation_scores_ : list of float or None
        Negative validation MSE per epoch (early stopping only).

    best_validation_score_ : float or None
        Best of ``validation_scores_`` (early stopping only).

    best_loss_ : float or None
        Lowest training loss (None with early stopping, as in MLPRegressor).

    n_iter_ : int
        Number of epochs run (:meth:`partial_fit` calls count one each).

    best_epoch_ : int
        The epoch (counted from 1) with the lowest validation error with
        early stopping, whose weights the model holds, else with the lowest
        training loss.

    stop_reason_ : str
        ``"converged"``, ``"max_iter"``, ``"callback"``, ``"interrupted"`` or
        ``"diverged"`` after :meth:`fit`; ``"partial_fit"`` after :meth:`partial_fit`.

    n_features_in_ : int
        Number of features seen during fit.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when X has string column names.

    See Also
    --------
    sklearn.decomposition.PCA : Linear dimensionality reduction.
    sklearn.neural_network.MLPRegressor : Whose training parameters this mirrors.

    Notes
    -----
    **Small data.** ``hidden_layer_sizes``, ``noise``, ``noise_level`` and
    ``batch_size`` default to ``"auto"``, resolved at each fit from the
    training rows (after any validation split). A plain dense model (no
    ``sparsity``, ``variational``, ``neighbor_weight``, user module) fitted
    on fewer than 10,000 rows gets one hidden layer of 256 units, masking
    noise 0.3 and batches of 32; other fits get ``(256, 128)``, no noise and
    batches of 256. With the large-data settings a few thousand rows
    overfit: PCA's codes had better neighbourhoods in 4 of the 12 cells of
    2,000 and 5,000 rows of MNIST and Fashion-MNIST at 8, 16 and 32-D, and
    in one against the small-data settings, by under 0.003 (FAQ, "I have
    only a few thousand rows"). :meth:`partial_fit` cannot know the stream's size and
    always takes the large-data settings; a continued model (``warm_start``,
    later :meth:`partial_fit` calls) keeps its hidden layers. The values a
    fit used are the saved model's parameters (:func:`~skae.save_model`).

    The classic tutorial architectures on 28x28 MNIST are these settings:

    - vanilla 784-64-784: ``n_components=64, hidden_layer_sizes=()``;
    - deep 784-256-128-64 (mirrored): ``n_components=64,
      hidden_layer_sizes=(256, 128)``;
    - convolutional with 64-128-64 filters: ``architecture="conv",
      conv_channels=(64, 128, 64)`` (GPU-sized; the default ``(16, 32)``
      trains on a laptop CPU);
    - a 2-D latent space for plotting: ``n_components=2,
      hidden_layer_sizes=(256, 128)``;
    - sparse: add ``sparsity="kl"`` (or ``"l1"``); denoising: add
      ``noise="masking", noise_level=0.3``. Options combine freely.

    Examples
    --------
    >>> import numpy as np
    >>> from skae import AutoencoderTransformer
    >>> X = np.random.default_rng(0).random((100, 8))
    >>> ae = AutoencoderTransformer(n_components=2, hidden_layer_sizes=(16,),
    ...                             max_iter=5, random_state=0)
    >>> codes = ae.fit_transform(X)  # doctest: +SKIP
    >>> codes.shape  # doctest: +SKIP
    (100, 2)
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "architecture": [StrOptions(set(ARCHITECTURES))],
        "encoder": [torch.nn.Module, None],
        "decoder": [torch.nn.Module, None],
        "hidden_layer_sizes": [
            "array-like",
            Interval(Integral, 1, None, closed="left"),
            StrOptions({"auto"}),
        ],
        "conv_channels": ["array-like", Interval(Integral, 1, None, closed="left")],
        "image_shape": ["array-like", None],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "loss": [StrOptions({"auto", "mse", "bce"})],
        "sparsity": [StrOptions({"l1", "kl"}), None],
        "sparsity_weight": [
            Interval(Real, 0, None, closed="left"),
            StrOptions({"auto"}),
        ],
        "sparsity_target": [Interval(Real, 0, 1, closed="neither")],
        "variational": ["boolean"],
        "beta": [Interval(Real, 0, None, closed="neither")],
        "noise": [StrOptions({*NOISE_KINDS, "auto"}), None],
        "noise_level": [Interval(Real, 0, None, closed="left"), StrOptions({"auto"})],
        "neighbor_weight": [Interval(Real, 0, None, closed="left")],
        "n_neighbors": [Interval(Integral, 2, None, closed="left")],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [
            Interval(Integral, 1, None, closed="left"),
            StrOptions({"auto"}),
        ],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "learning_rate": [StrOptions(set(SCHEDULES))],
        "max_iter": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "shuffle": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "callbacks": [list, None],
        "device": [str],
        "precision": [StrOptions({"float32", "bfloat16"})],
    }

    def __init__(
        self,
        n_components=2,
        *,
        architecture="dense",
        encoder=None,
        decoder=None,
        hidden_layer_sizes="auto",
        conv_channels=(16, 32),
        image_shape=None,
        activation="gelu",
        loss="auto",
        sparsity=None,
        sparsity_weight="auto",
        sparsity_target=0.05,
        variational=False,
        beta=1.0,
        noise="auto",
        noise_level="auto",
        neighbor_weight=0.0,
        n_neighbors=15,
        alpha=0.0,
        batch_size="auto",
        learning_rate_init=6e-3,
        learning_rate="cosine",
        max_iter="auto",
        shuffle=True,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        random_state=None,
        verbose=0,
        warm_start=False,
        callbacks=None,
        device="auto",
        precision="float32",
    ):
        self.n_components = n_components
        self.architecture = architecture
        self.encoder = encoder
        self.decoder = decoder
        self.hidden_layer_sizes = hidden_layer_sizes
        self.conv_channels = conv_channels
        self.image_shape = image_shape
        self.activation = activation
        self.loss = loss
        self.sparsity = sparsity
        self.sparsity_weight = sparsity_weight
        self.sparsity_target = sparsity_target
        self.variational = variational
        self.beta = beta
        self.noise = noise
        self.noise_level = noise_level
        self.neighbor_weight = neighbor_weight
        self.n_neighbors = n_neighbors
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start
        self.callbacks = callbacks
        self.device = device
        self.precision = precision

    # ------------------------------------------------------------------ fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Train the autoencoder on X.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array} of shape (n_samples, n_features)
            Training data. Batches are gathered from X and cast to float32
            one at a time, so a :class:`numpy.memmap` trains without being
            read into memory, and a Dask array is read one block at a time
            (rows shuffled within blocks, blocks in a random order).
        y : None
            Ignored; present for API consistency.

        Returns
        -------
        self : AutoencoderTransformer
            The fitted estimator.
        """
        self._transaction(self._fit, X, y)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None):
        """Train on X for one pass, keeping the optimiser's state between calls.

        The first call builds the network (``loss="auto"`` and the output
        bias are set from this first X); each later call checks the feature
        count and that the parameters still describe the fitted network, and
        continues, with Adam's moment estimates carried over. One call is one
        iteration, run by the same engine as an epoch of :meth:`fit` (a
        seeded model gets the same weights from ``max_iter`` calls on X as
        from ``fit(X)``, once the data-dependent ``"auto"`` values agree:
        ``partial_fit`` takes the large-data settings, see Notes): it
        appends to ``loss_curve_`` and adds 1 to ``n_iter_``. With ``learning_rate="cosine"`` the rate anneals over
        ``max_iter_`` calls (``max_iter="auto"``: the calls that give about
        2,500 optimiser steps if every X is the size of the first), so set
        ``max_iter`` to the number of calls you will make; calls past it
        warn and leave the model unchanged. ``learning_rate="constant"``
        suits an open-ended stream. After :meth:`fit`, ``partial_fit``
        continues from the fitted weights with a fresh optimiser and
        schedule. Training settings (``learning_rate_init``, ``alpha``,
        ``batch_size``, ``noise``...) are read at each call.

        ``neighbor_weight > 0`` (a graph of all the training rows) needs
        :meth:`fit` and is refused. ``early_stopping`` applies to :meth:`fit`
        only, as in :class:`~sklearn.neural_network.MLPRegressor`: each call
        trains on all of X (hold out your own rows and stop the loop).

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array} of shape (n_samples, n_features)
            A chunk of training data.
        y : None
            Ignored; present for API consistency.

        Returns
        -------
        self : AutoencoderTransformer
            The updated estimator.
        """
        self._transaction(self._partial_fit, X, y)
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return fitted.is_fitted(self)

    def _transaction(self, step, X, y) -> None:
        """Run ``step(X, y, hooks)`` as a transaction, then the callbacks'
        ``on_fit_end``.

        If anything fails (bad input, divergence, a torch error, a callback
        raising, ``on_fit_end`` included, Ctrl-C before an epoch ends), the
        estimator keeps the state it had before, so a previously fitted
        model keeps working. Training never modifies the fitted modules in
        place (continued models train copies), so restoring the attributes
        suffices.
        """
        hooks = EpochHooks(self, checked_callbacks(self.callbacks, self.verbose))
        previous = dict(self.__dict__)
        ended = False
        try:
            step(X, y, hooks)
            ended = True
            hooks.end_fit()
        except BaseException:
            # scikit-learn's callbacks are torn down after this from their
            # fit-time attributes, which the rollback must not remove.
            live = {k: v for k, v in self.__dict__.items() if k in RUNTIME_ATTRIBUTES}
            self.__dict__.clear()
            self.__dict__.update(previous)
            self.__dict__.update(live)
            if not ended:
                # Close progress bars and the like; the first error stands.
                with contextlib.suppress(Exception):
                    hooks.end_fit()
            raise

    def _fit(self, X, y, hooks: EpochHooks, collective=None) -> None:
        """One fit; with ``collective`` (``skae.distributed``), this process's
        share of a data-parallel one."""
        warm = bool(self.warm_start) and fitted.is_fitted(self)
        X, summary = self._training_input(X, reset=not warm)
        streamed = is_dask_array(X)
        if streamed:
            self._refuse_whole_data_options()
        n_samples, seed = X.shape[0], draw_seed(self.random_state)
        if collective is not None:
            summary, n_samples, seed = collective.agree(self, X, summary, seed, hooks)
        plan = plan_fit(
            self.get_params(deep=False),
            summary,
            n_samples,
            self.n_features_in_,
            seed=seed,
            fitted_params=getattr(self, "_fit_params_", None) if warm else None,
        )
        if collective is not None:
            plan = collective.local_plan(plan)
        if warm and plan.loss != self.reconstruction_loss_:
            raise ValueError(
                f"warm_start=True, but this X resolves loss to {plan.loss!r} and "
                f"the fitted model was trained with {self.reconstruction_loss_!r}; "
                "set warm_start=False to train a new model."
            )
        net, image_shape = start_network(
            plan, summary, self._fitted_network() if warm else None
        )
        source = (BlockSource if streamed else RowSource)(X, plan.device)
        source, val_source, train_rows = split_validation(source, plan)
        pair_term = None
        if plan.neighbor is not None:
            pair_term = neighbor_term(
                X, train_rows, net.encoder, source, plan.neighbor, plan.seed
            )

        def attributes() -> dict:  # the network as it stands, for sklearn callbacks
            return network_attributes(plan, copy.deepcopy(net).eval(), image_shape)

        if collective is None or collective.rank == 0:
            hooks.tasks = FitTasks(self, X, y, plan.max_iter, attributes=attributes)
        trainer = Trainer(
            net,
            plan.objective,
            plan.training,
            TrainerState(plan.seed),
            plan.corruption,
            pair_term,
            collective,
        )
        result = trainer.run(source, plan.max_iter, val_source=val_source, hooks=hooks)
        self._commit(plan, net, image_shape, result, continued=warm, state=None)
        self._warn_stop(result, plan)

    def _partial_fit(self, X, y, hooks: EpochHooks) -> None:
        if self.neighbor_weight > 0:
            raise ValueError(
                f"neighbor_weight={self.neighbor_weight!r} is not supported by "
                "partial_fit: the neighbour graph is built over all the training "
                "rows at once. Use fit, or set neighbor_weight=0."
            )
        first = not fitted.is_fitted(self)
        X, summary = self._training_input(X, reset=first)
        state = None if first else getattr(self, "_trainer_state_", None)
        state = state or TrainerState(draw_seed(self.random_state))
        plan = plan_fit(
            self.get_params(deep=False),
            summary,
            X.shape[0],
            self.n_features_in_,
            seed=state.seed,
            loss=None if first else self.reconstruction_loss_,
            max_iter=None if first else self.max_iter_,
            hold_out=False,
            fitted_params=None if first else getattr(self, "_fit_params_", None),
        )
        net, image_shape = start_network(
            plan, summary, None if first else self._fitted_network()
        )
        if plan.training.learning_rate == "cosine" and state.epochs_done >= (
            plan.max_iter
        ):
            warn_user(
                f"partial_fit has made max_iter_={plan.max_iter} calls, the "
                "length of the cosine learning-rate schedule, whose rate is now "
                "0: this call leaves the model unchanged. Set max_iter to the "
                "number of calls you make, or use learning_rate='constant' for "
                "an open-ended stream.",
                ConvergenceWarning,
            )
            return
        source = (BlockSource if is_dask_array(X) else RowSource)(X, plan.device)
        hooks.tasks = FitTasks(self, X, y, 0, task_name="partial_fit")
        hooks.offset = 0 if first else self.n_iter_
        trainer = Trainer(net, plan.objective, plan.training, state, plan.corruption)
        result = trainer.run(source, 1, hooks=hooks, what="partial_fit call")
        result.stop_reason = "partial_fit"
        self._commit(
            plan, net, image_shape, result, continued=not first, state=trainer.state()
        )

    def _fitted_network(self) -> Autoencoder:
        return Autoencoder(self.encoder_, self.decoder_)

    def _commit(self, plan, net, image_shape, result, *, continued: bool, state):
        """Set the fitted attributes from the plan and the run's result, as
        one step (nothing is set if building them fails)."""
        net.eval()
        attributes = {
            **network_attributes(plan, net, image_shape),
            **history_attributes(
                result.history,
                plan.validation_fraction is not None,
                self.history_ if continued else None,
            ),
            "n_iter_": result.n_iter + (self.n_iter_ if continued else 0),
            "stop_reason_": result.stop_reason,
            "_trainer_state_": state,
        }
        fitted.clear(self, keep=("n_features_in_", "feature_names_in_"))
        self.__dict__.update(attributes)

    @staticmethod
    def _warn_stop(result, plan) -> None:
        """The warning that ``result.stop_reason`` calls for, if any."""
        if result.stop_reason == "interrupted":
            warn_user(result.note, UserWarning)
        elif result.stop_reason == "diverged":
            warn_user(result.note, ConvergenceWarning)
        elif result.stop_reason == "max_iter":
            curve = result.history["loss"]
            gain = (
                f": the last epoch lowered the loss by {curve[-2] - curve[-1]:.2g} "
                f"(tol={plan.training.tol:g})"
                if len(curve) > 1
                else ""
            )
            warn_user(
                f"Maximum iterations ({plan.max_iter}) reached and the optimization "
                f"hasn't converged yet{gain}. Raise max_iter for a better fit.",
                ConvergenceWarning,
            )

    def _refuse_whole_data_options(self) -> None:
        """Refuse, for a Dask array, the options that need all rows at once."""
        for name, active in (
            ("neighbor_weight", self.neighbor_weight > 0),
            ("early_stopping", self.early_stopping),
        ):
            if active:
                raise ValueError(
                    f"{name}={getattr(self, name)!r} is not supported with a Dask "
                    "array: it needs all the training rows at once (a neighbour "
                    "graph, a held-out split); use a NumPy array or memmap for "
                    f"these options, or set {name} to its default."
                )

    def _training_input(self, X, *, reset: bool):
        """X validated for training, and one scan's summary of it.

        A Dask array keeps its blocks lazy: it is checked by shape and chunks
        here and block by block as it is read. It has no column names.
        """
        if not is_dask_array(X):
            X = self._validate_input(X, reset=reset)
            return X, summarize(X)
        name = type(self).__name__
        X = check_dask_array(X, None if reset else self.n_features_in_, name)
        if reset:
            self.n_features_in_ = X.shape[1]
            self.__dict__.pop("feature_names_in_", None)
        return X, summarize_blocks(X)

    def _validate_input(self, X, *, reset: bool):
        # Finiteness and float32's range are checked slice by slice as X is
        # read (skae._data), not here: sklearn's whole-array check would
        # touch every page of a memory map at once.
        return validate_data(
            self,
            as_array_like(X),
            reset=reset,
            accept_sparse=("csr", "csc", "coo"),
            dtype=_FLOAT_DTYPES,
            ensure_all_finite=False,
        )

    # ------------------------------------------------------------ inference
    def _device(self) -> torch.device:
        return next(self.encoder_.parameters()).device

    def transform(self, X):
        """Encode X into codes of size ``n_components_``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data to encode, processed in batches of bounded memory.

        Returns
        -------
        X_new : ndarray of shape (n_samples, `n_components_`), dtype float32
            The codes.
        """
        check_is_fitted(self)
        if is_dask_array(X):
            return self._map_dask(
                "transform", X, self.n_features_in_, self.n_components_
            )
        X = self._validate_input(X, reset=False)
        self.encoder_.eval()
        return map_batches(
            self.encoder_,
            X,
            self.n_components_,
            _INFERENCE_BATCH,
            self._device(),
            "transform (the codes)",
        )

    def inverse_transform(self, X):
        """Decode codes back to the input space.

        Parameters
        ----------
        X : array-like of shape (n_samples, `n_components_`)
            Codes, e.g. from :meth:`transform`.

        Returns
        -------
        X_original : ndarray of shape (n_samples, `n_features_in_`), dtype float32
            Reconstructions.
        """
        check_is_fitted(self)
        if is_dask_array(X):
            return self._map_dask(
                "inverse_transform", X, self.n_components_, self.n_features_in_
            )
        X = check_array(
            as_array_like(X),
            accept_sparse=("csr", "csc", "coo"),
            dtype=_FLOAT_DTYPES,
            ensure_all_finite=False,  # checked batch by batch
        )
        if X.shape[1] != self.n_components_:
            raise ValueError(
                f"inverse_transform expects codes with {self.n_components_} columns "
                f"(n_components_), got {X.shape[1]}."
            )
        self.decoder_.eval()
        return map_batches(
            self.decoder_,
            X,
            self.n_features_in_,
            _INFERENCE_BATCH,
            self._device(),
            "inverse_transform (the reconstructions)",
        )

    def score_samples(self, X):
        """Negative mean squared reconstruction error of each sample, or for a
        variational model its evidence lower bound.

        Higher is better; unusually low values flag anomalies.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples to score.

        Returns
        -------
        scores : ndarray of shape (n_samples,), dtype float32
            ``-mean((x - decode(encode(x)))**2)`` over the features of each
            row. For a model fitted with ``variational=True``: each row's
            ELBO, a lower bound on ``log p(x)`` in nats, ``E_q[log p(x | z)]
            - KL(q(z | x) || p(z))`` (always with the KL weight 1, whatever
            ``beta`` trained the model), the expectation estimated from 16
            draws of the posterior that are the same for every row, so the
            scores are deterministic.
        """
        check_is_fitted(self)
        if is_dask_array(X):
            return self._map_dask("score_samples", X, self.n_features_in_, None)
        X = self._validate_input(X, reset=False)
        self.encoder_.eval()
        self.decoder_.eval()
        net = Autoencoder(self.encoder_, self.decoder_)
        if net.variational:
            draws = torch.randn(
                _ELBO_DRAWS,
                self.n_components_,
                generator=torch.Generator().manual_seed(0),
            )

            def score(x: torch.Tensor) -> torch.Tensor:
                return elbo(net, x, draws).float()[:, None]
        else:

            def score(x: torch.Tensor) -> torch.Tensor:
                return -net.squared_error(x)[:, None]

        scores = map_batches(
            score, X, 1, _INFERENCE_BATCH, self._device(), "score_samples"
        )
        return scores[:, 0]

    def score(self, X, y=None):
        """Negative mean squared reconstruction error over all of X, or for a
        variational model the mean ELBO.

        The squared error is the same quantity for every ``loss`` setting, so
        model selection (e.g. ``GridSearchCV`` over ``n_components``)
        compares like with like. A variational model scores its mean
        evidence lower bound instead (:meth:`score_samples`), which compares
        variational models with each other; to compare one with a plain
        autoencoder, score both by reconstruction error (e.g.
        ``scoring="neg_mean_squared_error"`` on ``inverse_transform``).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples to reconstruct.
        y : None
            Ignored.

        Returns
        -------
        score : float
            ``-mean((X - inverse_transform(transform(X)))**2)``, or the mean
            ELBO of a variational model.
        """
        return float(np.mean(self.score_samples(X), dtype=np.float64))

    @available_if(_can_sample)
    def sample(self, n_samples=1, random_state=None):
        """Decode draws from the prior of a variational model.

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples to generate.
        random_state : int, RandomState instance or None, default=None
            Seeds the draws ``z ~ N(0, I)``.

        Returns
        -------
        X : ndarray of shape (n_samples, `n_features_in_`), dtype float32
            ``inverse_transform`` of the draws: the decoder's mean for each
            (pixel probabilities for ``loss="bce"``), not a draw from
            ``p(x | z)``.
        """
        check_is_fitted(self)
        if not isinstance(n_samples, Integral) or isinstance(n_samples, bool):
            raise TypeError(
                f"n_samples must be an int, got {type(n_samples).__name__} "
                f"{n_samples!r}."
            )
        if n_samples < 1:
            raise ValueError(f"n_samples must be at least 1, got {n_samples}.")
        rng = check_random_state(random_state)
        codes = rng.standard_normal((int(n_samples), self.n_components_))
        return self.inverse_transform(codes.astype(np.float32))

    def _map_dask(self, method: str, X, n_columns: int, n_outputs: int | None):
        """``method`` over a Dask array's blocks: checked now, computed lazily.

        The blocks see a copy of the estimator as it is now, so refitting
        before ``compute()`` does not change the result.
        """
        check_dask_array(X, n_columns, type(self).__name__)
        return map_estimator(copy.deepcopy(self), method, X, n_outputs)

    @property
    def _n_features_out(self):
        return self.n_components_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        # The network computes in float32 whatever the input dtype.
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags

    # ---------------------------------------------------------- persistence
    def __getstate__(self):
        # The torch modules go through torch.save so that unpickling can map
        # their tensors to the CPU: a model trained on a GPU then loads on a
        # machine without one.
        return pack_tensors(dict(super().__getstate__()), fitted.TORCH)

    def __setstate__(self, state):
        super().__setstate__(unpack_tensors(state, fitted.TORCH))
