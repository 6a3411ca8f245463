"""Latent-variable generative models: autoencoders and the variational autoencoder.

- :mod:`rlgen.generative.bounds`: the ELBO's analytic KL, reparameterization, log-mean-exp and
  the IWAE bound; a linear-Gaussian model whose posterior is known in closed form;
- :mod:`rlgen.generative.likelihoods`: the decoder's Bernoulli and continuous-Bernoulli terms;
- :mod:`rlgen.generative.models`: configs, networks, ``VAE`` and ``Autoencoder`` (train,
  evaluate, sample, encode, save, load);
- :mod:`rlgen.generative.fid`: a small cached classifier and the Fréchet distance of its features;
- :mod:`rlgen.generative.figures`: image grids, the 2-D manifold, latent scatter;
- :mod:`rlgen.generative.command`: ``rlgen vae`` and ``rlgen ae`` (configs, training in a run
  directory, ``plot``); :mod:`rlgen.generative.scoring`: their summaries, test scores and saved
  image arrays; :mod:`rlgen.generative.plots`: their figures, from a run directory's files;
- :mod:`rlgen.generative.evaluate`: ``rlgen vae evaluate`` and loading a saved model back;
- :mod:`rlgen.generative.sweeps`: ``rlgen vae beta-sweep`` and ``rlgen vae latent-sweep``.

Library API::

    from rlgen.generative import VAE, VAEConfig
    model = VAE(VAEConfig(latent=2))
    model.fit(images, LoopConfig(epochs=10), seed=0)   # images: (N, 784) floats in [0, 1]
    model.evaluate(test_images, iwae_k=100)["iwae_nll"]

The names below load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["VAE", "AEConfig", "Autoencoder", "VAEConfig"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("rlgen.generative.models"), name)
    raise AttributeError(f"module 'rlgen.generative' has no attribute {name!r}")
